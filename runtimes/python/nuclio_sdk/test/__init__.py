"""Helpers for unit-testing handlers without a processor, as in nuclio-sdk:
nuclio_sdk.test.Platform calls handlers with a context of their own (running
init_context once per handler) and records call_function calls;
nuclio_sdk.test.TestCase gives each test one as self._platform."""
from nuclio_sdk.test.mock_platform import Platform
from nuclio_sdk.test.test_case import TestCase

__all__ = ["Platform", "TestCase"]
