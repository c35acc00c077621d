"""The walls between the project's parts, read from the source: the import graph has no circle, only the LLM layer
talks to a provider's SDK, the loop sees no door, datasets know nothing of optimization, the project package's own
code imports no app, and no module, of the apps or of their tests, grows past the size a person reads in one sitting.

Every `import` counts, at the top of a module or inside a function: an import deferred into a function still makes
the two modules depend on each other."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("promptopt", "datasets", "optimization")
PROVIDER_SDKS = ("openai", "google.genai", "llama_cpp", "google.cloud.aiplatform", "vertexai")
LARGEST_MODULE = 450  # lines
# The project package's top floor: it wires the apps together, so it may import them.
PROJECT_TOP = {"promptopt.settings", "promptopt.urls", "promptopt.api_urls", "promptopt.views"}


def module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules():
    return {module_name(path): path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
            if "migrations" not in path.parts}


def imported_names(module, path):
    """What each import statement of `module` names: `import X` gives X; `from X import n` gives X.n, which is
    either a module or a name defined in X."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                source = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                source = node.module
            yield from (f"{source}.{alias.name}" for alias in node.names)


def import_graph(modules):
    """module -> the project's modules it imports: the longest module a name starts with (X.n itself when it is a
    module, else X)."""

    def resolve(name):
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    return {module: {resolve(name) for name in imported_names(module, path) if resolve(name)} - {module}
            for module, path in modules.items()}


def external_imports(modules):
    return {module: set(imported_names(module, path)) for module, path in modules.items()}


def cycles(graph):
    """The strongly connected components with more than one module (Tarjan's algorithm, iterative)."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def reachable(graph, start):
    seen, todo = set(), [start]
    while todo:
        for target in graph[todo.pop()] - seen:
            seen.add(target)
            todo.append(target)
    return seen


def is_door(module):
    """Views, API views, admin and URLs: what people and programs come in by."""
    last = module.rsplit(".", 1)[-1]
    return (last in {"views", "admin", "admin_site", "urls", "api_urls", "api", "pages"} or last.endswith("_views")
            or ".api." in f"{module}." or module.startswith("promptopt.api"))


def within(module, *prefixes):
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


@pytest.fixture(scope="module")
def modules():
    return project_modules()


@pytest.fixture(scope="module")
def graph(modules):
    return import_graph(modules)


def test_no_module_imports_another_in_a_circle(graph):
    assert cycles(graph) == []


def test_a_circle_is_found():
    """The check above can fail: a circle of three modules, and a module that imports itself, which is no circle."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"d"} - {"d"}, "e": {"a"}}) == [["a", "b", "c"]]


def test_only_the_llm_layer_imports_a_providers_sdk(modules):
    offenders = {
        module: sorted(name for name in names if within(name, *PROVIDER_SDKS))
        for module, names in external_imports(modules).items() if not within(module, "optimization.llm")
    }
    assert {module: names for module, names in offenders.items() if names} == {}


def test_the_llm_layer_the_loop_and_the_strategies_reach_no_door(graph):
    engine = [module for module in graph
              if within(module, "optimization.llm", "optimization.loop", "optimization.strategies")]
    assert "optimization.loop" in engine and "optimization.strategies.policy" in engine
    doors = {module: sorted(filter(is_door, reachable(graph, module))) for module in engine}
    assert {module: found for module, found in doors.items() if found} == {}


def test_datasets_import_nothing_of_optimization(graph):
    found = {module: sorted(target for target in graph[module] if within(target, "optimization"))
             for module in graph if within(module, "datasets")}
    assert {module: targets for module, targets in found.items() if targets} == {}


def test_the_project_packages_own_code_imports_no_app(graph):
    own = [module for module in graph if within(module, "promptopt") and module not in PROJECT_TOP]
    assert "promptopt.teams.models" in own and "promptopt.api.errors" in own
    found = {module: sorted(target for target in reachable(graph, module) if within(target, "datasets", "optimization"))
             for module in own}
    assert {module: targets for module, targets in found.items() if targets} == {}


def too_long(modules):
    lengths = {module: len(path.read_text().splitlines()) for module, path in modules.items()}
    return {module: n for module, n in lengths.items() if n >= LARGEST_MODULE}


def test_every_module_is_shorter_than_a_sitting(modules):
    assert too_long(modules) == {}


def test_every_test_module_is_shorter_than_a_sitting_too():
    """The tests are read as often as the code: their modules, conftests and helpers are held to the same size."""
    assert too_long({module_name(path): path for path in sorted((ROOT / "tests").rglob("*.py"))}) == {}
