//! Sans-I/O RTCP sender reports (RFC 3550 §6.4.1).
//!
//! A sender report ties an RTP timestamp to wall-clock (NTP) time, which is how a receiver such
//! as the recorder maps a camera's media clock to real time and measures its drift. The
//! simulated cameras send one about every five seconds on the RTCP interleaved channel.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds from the NTP epoch (1900-01-01) to the Unix epoch.
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// Length of a sender report with no report blocks.
pub const SENDER_REPORT_LEN: usize = 28;

/// The fields of a sender report without reception report blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SenderReport {
    pub ssrc: u32,
    /// 64-bit NTP timestamp: seconds since 1900 in the high half, fraction in the low half.
    pub ntp: u64,
    pub rtp_timestamp: u32,
    pub packet_count: u32,
    pub octet_count: u32,
}

impl SenderReport {
    /// Serializes the report (V=2, P=0, RC=0, PT=200, length 6 words).
    pub fn to_bytes(self) -> [u8; SENDER_REPORT_LEN] {
        let mut b = [0u8; SENDER_REPORT_LEN];
        b[0] = 0x80;
        b[1] = 200;
        b[2..4].copy_from_slice(&6u16.to_be_bytes());
        b[4..8].copy_from_slice(&self.ssrc.to_be_bytes());
        b[8..16].copy_from_slice(&self.ntp.to_be_bytes());
        b[16..20].copy_from_slice(&self.rtp_timestamp.to_be_bytes());
        b[20..24].copy_from_slice(&self.packet_count.to_be_bytes());
        b[24..28].copy_from_slice(&self.octet_count.to_be_bytes());
        b
    }
}

/// Converts a wall-clock time to a 64-bit NTP timestamp.
pub fn ntp_timestamp(t: SystemTime) -> u64 {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() + NTP_UNIX_OFFSET;
    let frac = (u64::from(d.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ntp_of_unix_epoch_and_half_second() {
        assert_eq!(ntp_timestamp(UNIX_EPOCH) >> 32, NTP_UNIX_OFFSET);
        let t = UNIX_EPOCH + Duration::from_millis(1500);
        assert_eq!(
            ntp_timestamp(t),
            ((NTP_UNIX_OFFSET + 1) << 32) | 0x8000_0000
        );
    }

    #[test]
    fn sender_report_layout() {
        let sr = SenderReport {
            ssrc: 0x0102_0304,
            ntp: 0x1112_1314_1516_1718,
            rtp_timestamp: 0x2122_2324,
            packet_count: 5,
            octet_count: 6,
        };
        let b = sr.to_bytes();
        assert_eq!(&b[..4], &[0x80, 200, 0, 6]);
        assert_eq!(&b[4..8], &[1, 2, 3, 4]);
        assert_eq!(&b[8..16], &[0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18]);
        assert_eq!(&b[16..20], &[0x21, 0x22, 0x23, 0x24]);
        assert_eq!(&b[20..], &[0, 0, 0, 5, 0, 0, 0, 6]);
    }
}
