"""ferkit: facial expression recognition that stays accurate when faces are partly hidden.

Importing ferkit only defines things: no logging set-up, no downloads, no global state.
"""

__version__ = "0.1.0"
