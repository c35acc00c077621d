"""The learning optimizer's machinery, apart from the strategy that uses it (strategies/policy.py).

    features.py   the observation: what the policy sees of a prompt and a run (numpy only)
    reachable.py  the prompt states the edits reach from a start, and where each edit leads
    replay.py     replay tables: each task's reachable prompts scored once through the LLM layer, kept in storage
    env.py        the gymnasium environment of prompt edits, replayed from tables
    training.py   PPO (sb3-contrib's MaskablePPO) on that environment; policies saved and loaded through storage
    files.py      reading a policy from storage, else the one shipped with the code (shipped/)
    uniform.py    the uniform policy, the floor a trained one is measured against

It lives outside strategies/ because strategies only propose candidates and stay cheap to import, while this
builds tables, trains and stores models, and imports gymnasium, torch and stable-baselines3 (only where used).
`manage.py train_policy` and a benchmark call replay.build_or_reuse() and training.train().
"""
