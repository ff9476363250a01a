#!/usr/bin/python3
"""A third-party RTSP camera for tests: GStreamer's RTSP server playing a file.

Usage: gst_camera.py PORT MODE [FILE]
  MODE file  - play FILE (MP4 with H.264 video and optional AAC audio) once, in real time
  MODE h265  - the same for an MP4 with H.265 video
  MODE mjpeg - a live MJPEG test pattern (a codec Sightline does not record)
Each client gets its own pipeline (shared mode crashed here with simultaneous clients).
Prints "ready" once listening.
"""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main():
    port, mode = sys.argv[1], sys.argv[2]
    Gst.init(None)
    if mode in ("file", "h265"):
        path = sys.argv[3]
        codec = "h265" if mode == "h265" else "h264"
        launch = (
            f'( filesrc location="{path}" ! qtdemux name=d '
            f"d.video_0 ! queue ! {codec}parse ! rtp{codec}pay name=pay0 pt=96 config-interval=-1 "
        )
        if len(sys.argv) > 4 and sys.argv[4] == "audio":
            launch += "d.audio_0 ! queue ! aacparse ! rtpmp4gpay name=pay1 pt=97 "
        launch += ")"
    elif mode == "mjpeg":
        launch = "( videotestsrc is-live=true ! video/x-raw,format=I420,width=320,height=240 ! jpegenc ! rtpjpegpay name=pay0 pt=26 )"
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(False)
    server.get_mount_points().add_factory("/stream", factory)
    server.attach(None)
    print("ready", flush=True)
    GLib.MainLoop().run()


main()
