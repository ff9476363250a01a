//! Sans-I/O H.264 RTP packetizing (RFC 6184) and RTSP interleaved framing (RFC 2326 §10.12).
//!
//! Bytes in, bytes out, no sockets: an access unit's NAL units become RTP payloads, either one
//! NAL per packet ("single NAL unit" mode) or, for NALs larger than the payload limit, FU-A
//! fragments. The marker bit is set on the last packet of the access unit only. RTP headers and
//! the 4-byte `$`-frames that carry them over the RTSP TCP connection are written here as well,
//! so the server only ever copies ready bytes to a socket.

/// The dynamic RTP payload type announced in the SDP for H.264.
pub const PAYLOAD_TYPE: u8 = 96;
/// Length of an RTP header without CSRCs or extensions.
pub const RTP_HEADER_LEN: usize = 12;
/// Length of the RTSP interleaved frame header: `$`, channel, 16-bit length.
pub const INTERLEAVED_HEADER_LEN: usize = 4;
/// Largest RTP payload produced, in bytes. TCP has no MTU, but cameras keep to ~1400 so that
/// the same stream could go over UDP; it also exercises FU-A on every IDR.
pub const MAX_PAYLOAD: usize = 1400;

/// FU-A NAL unit type (RFC 6184 §5.8).
const FU_A: u8 = 28;

/// One RTP payload and whether it is the access unit's last packet (RTP marker bit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payload {
    pub data: Vec<u8>,
    pub marker: bool,
}

/// Splits an access unit (NAL units without start codes, decode order) into RTP payloads of at
/// most `max_payload` bytes, using single NAL unit packets and FU-A fragments.
///
/// # Panics
///
/// Panics if `max_payload < 3` (an FU-A fragment needs two header bytes plus data).
pub fn packetize_access_unit<N: AsRef<[u8]>>(nals: &[N], max_payload: usize) -> Vec<Payload> {
    assert!(
        max_payload >= 3,
        "max_payload {max_payload} is too small for FU-A"
    );
    let mut out = Vec::new();
    for nal in nals.iter().map(AsRef::as_ref).filter(|n| !n.is_empty()) {
        if nal.len() <= max_payload {
            out.push(Payload {
                data: nal.to_vec(),
                marker: false,
            });
            continue;
        }
        let indicator = (nal[0] & 0xe0) | FU_A;
        let nal_type = nal[0] & 0x1f;
        let body = &nal[1..];
        let chunk = max_payload - 2;
        let count = body.len().div_ceil(chunk);
        for (i, part) in body.chunks(chunk).enumerate() {
            let mut header = nal_type;
            if i == 0 {
                header |= 0x80; // S
            }
            if i + 1 == count {
                header |= 0x40; // E
            }
            let mut data = Vec::with_capacity(part.len() + 2);
            data.extend_from_slice(&[indicator, header]);
            data.extend_from_slice(part);
            out.push(Payload {
                data,
                marker: false,
            });
        }
    }
    if let Some(last) = out.last_mut() {
        last.marker = true;
    }
    out
}

/// The fixed RTP header fields this server uses (version 2, no padding/extension/CSRC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpHeader {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
}

impl RtpHeader {
    /// Serializes the header.
    pub fn to_bytes(self) -> [u8; RTP_HEADER_LEN] {
        let mut b = [0u8; RTP_HEADER_LEN];
        b[0] = 0x80;
        b[1] = (u8::from(self.marker) << 7) | (self.payload_type & 0x7f);
        b[2..4].copy_from_slice(&self.sequence.to_be_bytes());
        b[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        b[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        b
    }

    /// Parses a version-2 header from the front of `packet`; `None` if it is not one.
    #[cfg(test)]
    pub fn parse(packet: &[u8]) -> Option<RtpHeader> {
        if packet.len() < RTP_HEADER_LEN || packet[0] >> 6 != 2 {
            return None;
        }
        Some(RtpHeader {
            marker: packet[1] & 0x80 != 0,
            payload_type: packet[1] & 0x7f,
            sequence: u16::from_be_bytes([packet[2], packet[3]]),
            timestamp: u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]),
            ssrc: u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]),
        })
    }
}

/// Rewrites the per-stream fields (sequence number, timestamp, SSRC) of an RTP header in place.
/// Marker and payload type stay as packetized.
pub fn patch_rtp_header(header: &mut [u8], sequence: u16, timestamp: u32, ssrc: u32) {
    header[2..4].copy_from_slice(&sequence.to_be_bytes());
    header[4..8].copy_from_slice(&timestamp.to_be_bytes());
    header[8..12].copy_from_slice(&ssrc.to_be_bytes());
}

/// Returns the RTSP interleaved frame header for `len` bytes of data on `channel`.
///
/// # Panics
///
/// Panics if `len` does not fit the 16-bit length field.
pub fn interleaved_header(channel: u8, len: usize) -> [u8; INTERLEAVED_HEADER_LEN] {
    let len = u16::try_from(len).expect("interleaved frame longer than 65535 bytes");
    let [hi, lo] = len.to_be_bytes();
    [b'$', channel, hi, lo]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reassembles NAL units from payloads (the receiving side of RFC 6184, for checking).
    fn depacketize(payloads: &[Payload]) -> Vec<Vec<u8>> {
        let mut nals = Vec::new();
        let mut partial: Option<Vec<u8>> = None;
        for p in payloads {
            let d = &p.data;
            if d[0] & 0x1f == FU_A {
                let (start, end) = (d[1] & 0x80 != 0, d[1] & 0x40 != 0);
                if start {
                    assert!(partial.is_none(), "FU-A start inside a fragmented NAL");
                    partial = Some(vec![(d[0] & 0xe0) | (d[1] & 0x1f)]);
                }
                partial
                    .as_mut()
                    .expect("FU-A continuation without start")
                    .extend_from_slice(&d[2..]);
                if end {
                    nals.push(partial.take().unwrap());
                }
            } else {
                assert!(partial.is_none(), "single NAL inside a fragmented NAL");
                nals.push(d.clone());
            }
        }
        assert!(partial.is_none(), "unterminated FU-A");
        nals
    }

    fn nal(header: u8, len: usize) -> Vec<u8> {
        let mut v = vec![header];
        v.extend((0..len - 1).map(|i| (i * 7 % 251) as u8));
        v
    }

    #[test]
    fn large_nal_is_split_into_fu_a_and_reassembles() {
        let sps = nal(0x67, 20);
        let pps = nal(0x68, 5);
        let idr = nal(0x65, 5000);
        let payloads = packetize_access_unit(&[&sps, &pps, &idr], 1400);
        // SPS, PPS as single NAL packets; 4999 body bytes in 1398-byte chunks = 4 fragments.
        assert_eq!(payloads.len(), 2 + 4);
        assert_eq!(payloads[0].data, sps);
        assert_eq!(payloads[1].data, pps);
        assert!(payloads.iter().all(|p| p.data.len() <= 1400));
        let fu: Vec<_> = payloads[2..]
            .iter()
            .map(|p| (p.data[0], p.data[1]))
            .collect();
        assert_eq!(
            fu,
            vec![(0x7c, 0x85), (0x7c, 0x05), (0x7c, 0x05), (0x7c, 0x45)]
        );
        assert_eq!(depacketize(&payloads), vec![sps, pps, idr]);
    }

    #[test]
    fn marker_only_on_last_packet_of_access_unit() {
        let payloads = packetize_access_unit(&[nal(0x41, 100), nal(0x41, 3000)], 1000);
        let markers: Vec<bool> = payloads.iter().map(|p| p.marker).collect();
        assert_eq!(markers, vec![false, false, false, false, true]);
        let single = packetize_access_unit(&[nal(0x41, 10)], 1000);
        assert_eq!(single.len(), 1);
        assert!(single[0].marker);
    }

    #[test]
    fn nal_exactly_at_limit_is_not_fragmented() {
        let payloads = packetize_access_unit(&[nal(0x41, 1400)], 1400);
        assert_eq!(payloads.len(), 1);
        assert_eq!(payloads[0].data[0], 0x41);
    }

    #[test]
    fn header_round_trips_and_patches() {
        let h = RtpHeader {
            marker: true,
            payload_type: PAYLOAD_TYPE,
            sequence: 65535,
            timestamp: 0xdead_beef,
            ssrc: 0x0102_0304,
        };
        let mut b = h.to_bytes();
        assert_eq!(b[0], 0x80);
        assert_eq!(b[1], 0x80 | 96);
        assert_eq!(RtpHeader::parse(&b), Some(h));
        patch_rtp_header(&mut b, 7, 9, 11);
        let p = RtpHeader::parse(&b).unwrap();
        assert_eq!(
            (p.marker, p.sequence, p.timestamp, p.ssrc),
            (true, 7, 9, 11)
        );
        assert_eq!(RtpHeader::parse(&[0u8; 12]), None);
    }

    #[test]
    fn interleaved_header_is_dollar_channel_length() {
        assert_eq!(interleaved_header(2, 0x1234), [b'$', 2, 0x12, 0x34]);
    }
}
