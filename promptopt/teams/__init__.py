"""Teams, memberships and their roles, and API tokens: the boundary every other rule stands on.

An app of its own inside the project package; its label stays "promptopt", the one its tables and migrations have
always had. It imports no other app of the project."""
