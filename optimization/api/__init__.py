"""The REST API of prompts, versions, reviews, runs and the audit log: `serializers` (the shapes), `views` (the
doors into the services), `production` (the production prompt, the applications' hot path), `exchange` (a
prompt's export and import), `objects` (finding objects within the caller's teams)."""
