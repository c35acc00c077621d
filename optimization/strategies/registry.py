"""Every optimizer strategy, by the name a run gives: the one list (the run's choices, the estimate of its calls,
the loop's proposer and the checks before a run starts all read it)."""

from promptopt.errors import PromptOptError

from . import critique, meta_prompt, operators, policy

STRATEGIES = {module.__name__.rsplit(".", 1)[1]: module for module in (operators, meta_prompt, critique, policy)}


def strategy(name):
    """The module of the strategy called `name`."""
    if name not in STRATEGIES:
        raise PromptOptError(f"Unknown optimizer strategy {name!r}; use one of {', '.join(STRATEGIES)}.")
    return STRATEGIES[name]


def strategy_for(name):
    """What proposes the candidates of strategy `name`: its `propose(situation)`."""
    return strategy(name).propose


def choices():
    return [(name, f"{name} — {module.DESCRIPTION}") for name, module in STRATEGIES.items()]


def require_ready(name):
    """Refuse a run of strategy `name` that could not run (the policy without a trained policy)."""
    check = getattr(strategy(name), "require_ready", None)
    if check is not None:
        check()
