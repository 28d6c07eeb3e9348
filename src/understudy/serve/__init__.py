"""Serve a student (or a teacher) over HTTP in the OpenAI format: swap the base URL, keep the client code."""
