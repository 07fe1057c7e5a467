"""Test helpers shared by every package's tests (needs the ``testing`` extra: hypothesis)."""
