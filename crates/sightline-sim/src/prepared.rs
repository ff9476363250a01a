//! The clip packetized once, as ready-to-send interleaved RTP bytes, shared by every camera.
//!
//! Hundreds of simulated cameras run in one process, so per-camera work must be little more
//! than a socket write. Each access unit is packetized once at start-up into one contiguous
//! buffer of `$`-framed RTP packets with placeholder channel, sequence number, timestamp and
//! SSRC. Sending a frame is then one `memcpy` of that buffer plus a 10-byte patch per packet,
//! and one `write` call. The per-loop packet counts are kept as prefix sums so a camera's
//! sequence number for any frame index is a closed-form computation (see `timeline`).

use bytes::{Bytes, BytesMut};

use crate::clip::Clip;
use crate::rtp::{
    interleaved_header, packetize_access_unit, patch_rtp_header, RtpHeader, INTERLEAVED_HEADER_LEN,
    MAX_PAYLOAD, PAYLOAD_TYPE, RTP_HEADER_LEN,
};

/// One access unit as interleaved RTP packets with placeholder per-stream fields.
#[derive(Debug)]
pub struct PreparedFrame {
    /// Concatenated `$`-frames, each an RTP header plus payload.
    pub bytes: Bytes,
    /// Offset within `bytes` of each packet's RTP header.
    pub rtp_offsets: Vec<usize>,
    /// Sum of the RTP payload lengths (for the RTCP sender report's octet count).
    pub payload_octets: u32,
}

/// The whole loop, packetized.
#[derive(Debug)]
pub struct PreparedClip {
    pub frames: Vec<PreparedFrame>,
    /// `packet_prefix[i]` = number of RTP packets in frames `0..i`; has `frames.len() + 1`
    /// entries, the last being the packets per loop.
    pub packet_prefix: Vec<u64>,
}

impl PreparedClip {
    /// Packetizes every access unit of `clip`.
    pub fn new(clip: &Clip) -> PreparedClip {
        let mut frames = Vec::with_capacity(clip.frames.len());
        let mut packet_prefix = Vec::with_capacity(clip.frames.len() + 1);
        let mut total = 0u64;
        packet_prefix.push(0);
        for au in &clip.frames {
            let payloads = packetize_access_unit(&au.nals, MAX_PAYLOAD);
            let size: usize = payloads
                .iter()
                .map(|p| INTERLEAVED_HEADER_LEN + RTP_HEADER_LEN + p.data.len())
                .sum();
            let mut bytes = Vec::with_capacity(size);
            let mut rtp_offsets = Vec::with_capacity(payloads.len());
            let mut payload_octets = 0u32;
            for p in &payloads {
                bytes.extend_from_slice(&interleaved_header(0, RTP_HEADER_LEN + p.data.len()));
                rtp_offsets.push(bytes.len());
                let header = RtpHeader {
                    marker: p.marker,
                    payload_type: PAYLOAD_TYPE,
                    sequence: 0,
                    timestamp: 0,
                    ssrc: 0,
                };
                bytes.extend_from_slice(&header.to_bytes());
                bytes.extend_from_slice(&p.data);
                payload_octets += p.data.len() as u32;
            }
            total += payloads.len() as u64;
            packet_prefix.push(total);
            frames.push(PreparedFrame {
                bytes: Bytes::from(bytes),
                rtp_offsets,
                payload_octets,
            });
        }
        PreparedClip {
            frames,
            packet_prefix,
        }
    }

    /// Number of frames in one loop.
    pub fn len(&self) -> u64 {
        self.frames.len() as u64
    }

    /// RTP packets sent per loop.
    pub fn packets_per_loop(&self) -> u64 {
        *self.packet_prefix.last().expect("prefix has a leading 0")
    }

    /// The prepared frame shown at global frame index `n` (the loop repeats forever).
    pub fn frame(&self, n: u64) -> &PreparedFrame {
        &self.frames[(n % self.len()) as usize]
    }

    /// Appends frame `n` to `out` as it goes on the wire for one stream: interleaved channel
    /// `channel`, packets numbered from `first_seq`, all stamped `timestamp`, and `ssrc`.
    pub fn render(
        &self,
        n: u64,
        channel: u8,
        ssrc: u32,
        first_seq: u16,
        timestamp: u32,
        out: &mut BytesMut,
    ) {
        let frame = self.frame(n);
        let start = out.len();
        out.extend_from_slice(&frame.bytes);
        let buf = &mut out[start..];
        let mut seq = first_seq;
        for &off in &frame.rtp_offsets {
            buf[off - INTERLEAVED_HEADER_LEN + 1] = channel;
            patch_rtp_header(&mut buf[off..off + RTP_HEADER_LEN], seq, timestamp, ssrc);
            seq = seq.wrapping_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clip::{AccessUnit, ClipSpec};

    fn fake_clip() -> Clip {
        let big = Bytes::from(vec![0x65; 3000]);
        let small = Bytes::from_static(&[0x41, 1, 2, 3]);
        Clip {
            spec: ClipSpec {
                width: 16,
                height: 16,
                fps: 2,
                seconds: 1,
            },
            sps: Bytes::from_static(&[0x67, 0x42, 0xc0, 0x1e]),
            pps: Bytes::from_static(&[0x68, 0xce]),
            frames: vec![
                AccessUnit {
                    nals: vec![
                        Bytes::from_static(&[0x67, 0x42, 0xc0, 0x1e]),
                        Bytes::from_static(&[0x68, 0xce]),
                        big,
                    ],
                },
                AccessUnit { nals: vec![small] },
            ],
        }
    }

    /// Splits rendered bytes back into (channel, header, payload length) per packet.
    fn parse_frames(mut b: &[u8]) -> Vec<(u8, RtpHeader, usize)> {
        let mut out = Vec::new();
        while !b.is_empty() {
            assert_eq!(b[0], b'$');
            let len = usize::from(u16::from_be_bytes([b[2], b[3]]));
            let pkt = &b[4..4 + len];
            out.push((b[1], RtpHeader::parse(pkt).unwrap(), len - RTP_HEADER_LEN));
            b = &b[4 + len..];
        }
        out
    }

    #[test]
    fn render_patches_per_stream_fields_and_keeps_markers() {
        let prepared = PreparedClip::new(&fake_clip());
        // IDR: SPS, PPS, 3 FU-A fragments (2999 bytes / 1398); P: one packet.
        assert_eq!(prepared.packet_prefix, vec![0, 5, 6]);
        let mut out = BytesMut::new();
        prepared.render(2, 3, 0xabcd_ef01, 65534, 1000, &mut out);
        let pkts = parse_frames(&out);
        assert_eq!(pkts.len(), 5);
        let seqs: Vec<u16> = pkts.iter().map(|p| p.1.sequence).collect();
        assert_eq!(seqs, vec![65534, 65535, 0, 1, 2]);
        assert!(pkts.iter().all(|p| p.0 == 3 && p.1.ssrc == 0xabcd_ef01));
        assert!(pkts.iter().all(|p| p.1.timestamp == 1000));
        let markers: Vec<bool> = pkts.iter().map(|p| p.1.marker).collect();
        assert_eq!(markers, vec![false, false, false, false, true]);
        let octets: usize = pkts.iter().map(|p| p.2).sum();
        assert_eq!(octets as u32, prepared.frame(0).payload_octets);
        // The shared template itself is untouched.
        assert_eq!(prepared.frames[0].bytes[1], 0);
    }
}
