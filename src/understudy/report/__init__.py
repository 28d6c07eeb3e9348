"""Human-readable reports (HTML page, terminal summary) rendered from report.json."""
