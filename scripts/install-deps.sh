#!/usr/bin/env bash
# Installs what baocao's tests need beyond crates: LibreOffice (headless) to
# convert written workbooks to PDF/CSV and to save returns as .xls/.ods, and
# poppler-utils for pdfinfo. Debian/Ubuntu, run as root. Safe to run again.
set -euo pipefail
need=()
command -v soffice >/dev/null 2>&1 || need+=(libreoffice-calc-nogui)
command -v pdfinfo >/dev/null 2>&1 || need+=(poppler-utils)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
soffice --version
