"""Human oversight: when the student should not answer alone.

abstain.py calibrates a confidence threshold below which the student's answer goes to a person,
with a statistical guarantee on the error rate of the answers it keeps, and saves it as
``oversight.json`` in the student folder for the server to apply.
"""
