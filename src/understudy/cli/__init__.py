"""The command line, one small module per command group; heavy imports happen inside commands."""
