"""What every door of the REST API shares, by concern: who is calling (`authentication`: a session or an API token,
and the token's scope), how often (`throttling`), what they may see (`scoping`: their teams' objects; another
team's object is a 404, like one that does not exist), the query parameters (`parameters`), the one shape of every
error (`errors`), pagination and input checking (`conventions`), and the JSON parser (`parsers`).

Writes are checked by the services (`require_role`, the review workflow), which raise NotAllowed: a 403 with its
message. DRF imports authentication, throttling, parsers and the exception handler from its settings while
rest_framework.views is still loading: none of these modules may import APIView.

    {"error": {"code": "not_found", "message": "No dataset 12 in your teams.", "details": {}}}
"""
