"""What the browser tests measured (bundle size, first render), shown at the end of ``make test``.

Figures, not targets: the browser test records them as a user property and the root conftest's
``pytest_terminal_summary`` prints them (under xdist only the controller prints, and it loads
only the root conftest).
"""

from __future__ import annotations

import json
from typing import Any

REPORT_KEY = "web_report"


def print_summary(terminalreporter: Any) -> None:
    for report in terminalreporter.stats.get("passed", []):
        for key, value in getattr(report, "user_properties", []):
            if key == REPORT_KEY:
                terminalreporter.write_sep("-", "dashboard page (web/): measured, not asserted")
                for name, figure in json.loads(value).items():
                    terminalreporter.write_line(f"{name}: {figure}")
