"""Test helpers for camera geometry (needs hypothesis)."""
