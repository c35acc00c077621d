"""The PromptOpt client: production prompts for applications, and webhook signatures."""

from .client import Prompt, PromptClient, PromptNotFound, PromptOptError, ServerUnavailable
from .rendering import in_canary, render_messages
from .webhooks import InvalidSignature, signature, verify_webhook

__all__ = ["InvalidSignature", "Prompt", "PromptClient", "PromptNotFound", "PromptOptError", "ServerUnavailable",
           "in_canary", "render_messages", "signature", "verify_webhook"]
