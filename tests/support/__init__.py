"""Test-support code shared by the project's tests (not tests themselves).

``bot_api_server.FakeBotApi`` is a local Telegram Bot API server so end-to-end tests can drive a
real python-telegram-bot ``Application`` over loopback HTTP instead of mocking it.
"""
