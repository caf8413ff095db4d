"""The version of vanplan's service (health answer, render keys)."""

VERSION = "0.1.0"
