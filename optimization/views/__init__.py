"""The optimization app's pages, one module per group: `prompts` (prompts, versions, reviews), `diffs`, `runs`,
`run_evidence` (what a run page shows of its evidence) and `exchange` (export and import). Every write goes
through a service or the review workflow (optimization.reviews); these views only find the objects (scoped to the
user's teams) and show what the services answer."""
