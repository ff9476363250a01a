//! The session description (RFC 8866 SDP) a simulated camera returns for `DESCRIBE`.
//!
//! One H.264 video track at payload type 96 over RTP/AVP, with `sprop-parameter-sets` and
//! `profile-level-id` taken from the clip's SPS/PPS so a client can set up its decoder before
//! the first packet, aggregate control (`a=control:*`) for the session and a relative control
//! URL (`trackID=0`) for the track, resolved against the `Content-Base` the server sends.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use crate::rtp::PAYLOAD_TYPE;

/// The track's control attribute, relative to the camera's base URL.
pub const TRACK_CONTROL: &str = "trackID=0";

/// What goes into the SDP.
pub struct SdpParams<'a> {
    pub camera: u32,
    pub session_id: u64,
    pub sps: &'a [u8],
    pub pps: &'a [u8],
    pub fps: u32,
    pub width: u16,
    pub height: u16,
}

/// `profile-level-id`: the SPS's profile_idc, constraint flags and level_idc as six hex digits.
pub fn profile_level_id(sps: &[u8]) -> String {
    match sps {
        [_, p, c, l, ..] => format!("{p:02X}{c:02X}{l:02X}"),
        // An SPS this short is not valid; baseline 3.0 keeps the SDP parseable.
        _ => "42C01E".to_owned(),
    }
}

/// Renders the SDP text (CRLF line endings).
pub fn render(p: &SdpParams<'_>) -> String {
    let sprop = format!("{},{}", BASE64.encode(p.sps), BASE64.encode(p.pps));
    let lines = [
        "v=0".to_owned(),
        format!("o=- {} 1 IN IP4 127.0.0.1", p.session_id),
        format!("s=Sightline simulated camera {}", p.camera),
        "c=IN IP4 0.0.0.0".to_owned(),
        "t=0 0".to_owned(),
        "a=tool:sightline-sim".to_owned(),
        "a=range:npt=now-".to_owned(),
        "a=control:*".to_owned(),
        format!("m=video 0 RTP/AVP {PAYLOAD_TYPE}"),
        format!("a=rtpmap:{PAYLOAD_TYPE} H264/90000"),
        format!(
            "a=fmtp:{PAYLOAD_TYPE} packetization-mode=1;profile-level-id={};\
             sprop-parameter-sets={sprop}",
            profile_level_id(p.sps)
        ),
        format!("a=framerate:{}", p.fps),
        format!("a=x-dimensions:{},{}", p.width, p.height),
        format!("a=control:{TRACK_CONTROL}"),
    ];
    let mut s = lines.join("\r\n");
    s.push_str("\r\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdp_carries_codec_parameters_and_controls() {
        let sdp = render(&SdpParams {
            camera: 3,
            session_id: 42,
            sps: &[0x67, 0x42, 0xc0, 0x1f, 0xaa],
            pps: &[0x68, 0xce, 0x3c, 0x80],
            fps: 25,
            width: 640,
            height: 360,
        });
        assert!(sdp.starts_with("v=0\r\n"));
        assert!(sdp.ends_with("a=control:trackID=0\r\n"));
        assert!(sdp.contains("\r\na=rtpmap:96 H264/90000\r\n"));
        assert!(sdp.contains(
            "a=fmtp:96 packetization-mode=1;profile-level-id=42C01F;\
             sprop-parameter-sets=Z0LAH6o=,aM48gA==\r\n"
        ));
        assert!(sdp.contains("\r\nm=video 0 RTP/AVP 96\r\n"));
        assert!(sdp.contains("s=Sightline simulated camera 3\r\n"));
    }
}
