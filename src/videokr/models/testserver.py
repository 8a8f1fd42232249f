from videokr.testing.openai_server import *  # noqa: F401,F403 - moved to videokr.testing (old imports)
