"""Adapters: third-party environments behind mulligan's text interface (MiniWoB++ in Chromium)."""
