"""The team web app: every page for a member, nothing for anyone else, and the flows people rely on."""
