#!/usr/bin/env bash
# Install what the web environments need: Debian's Chromium and the Playwright Python package.
# Idempotent: each part is installed only when missing.  `playwright install` is not used (it
# downloads browsers from the internet); envgym.browser launches /usr/bin/chromium instead.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then
    echo "install-browser: installing chromium (apt)"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-liberation
else
    echo "install-browser: chromium present ($(command -v chromium || echo /usr/bin/chromium))"
fi

PYTHON="${PYTHON:-python}"
if ! "$PYTHON" -c "import playwright.async_api" >/dev/null 2>&1; then
    echo "install-browser: installing playwright (pip)"
    "$PYTHON" -m pip install -q "playwright>=1.45"
else
    echo "install-browser: playwright present"
fi

"$PYTHON" - <<'PY'
import shutil, playwright
print("install-browser: ok; playwright", getattr(playwright, "__version__", "?"), "chromium", shutil.which("chromium") or "/usr/bin/chromium")
PY
