#!/bin/sh
# Installs Debian's Tesseract OCR (with English) for the image pipeline and its tests, only
# when missing. The image function's container installs the same package (functions/image/).
set -eu

if command -v tesseract >/dev/null 2>&1 && tesseract --list-langs 2>/dev/null | grep -qx eng; then
    echo "tesseract already installed: $(tesseract --version 2>/dev/null | head -n 1)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq tesseract-ocr tesseract-ocr-eng
tesseract --version | head -n 1
