"""Test doubles that are real, registered pieces: loopback servers for judges and candidate models."""
