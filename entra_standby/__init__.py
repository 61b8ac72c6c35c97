"""entra-standby: prove an Entra Connect staging-mode standby is ready to take over."""

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
