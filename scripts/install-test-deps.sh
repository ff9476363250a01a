#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine: ffmpeg/ffprobe to
# check exported files, GStreamer's RTSP server (with Python bindings) to act as a
# third-party camera, and openssl to make a certificate for the HTTPS test. Skips apt
# entirely when everything is already present.
set -euo pipefail

packages=(
  ffmpeg openssl
  gstreamer1.0-rtsp gir1.2-gst-rtsp-server-1.0 python3-gi
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-libav
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
/usr/bin/python3 -c 'import gi; gi.require_version("GstRtspServer", "1.0")'
ffmpeg -version | head -n 1
