//! The pieces as the telephony adapter chains them for one direction of a call: a prompt
//! sent on an outgoing stream, the datagrams mangled on the way (reordered, lost, repeated,
//! stray STUN and RTCP among them), parsed, put back in order by the jitter buffer and
//! recorded; the recording must hold the prompt at its place, with silence where the lost
//! packet was.

use std::io::Cursor;

use media::Law;
use media::jitter::{Frame, JitterBuffer};
use media::prompt::Prompt;
use media::relay::OutStream;
use media::rtp;
use media::wav::{Channel, Format, Recorder, WavReader};

#[test]
fn a_prompt_survives_the_network_into_a_recording() {
    let prompt = Prompt::tone(440, 400);
    let mut stream = OutStream::new(0x5151, 65530, u32::MAX - 1000);
    let mut sent = Vec::new();
    let mut frames = prompt.frames(Law::Pcmu, 20);
    let per = frames.samples_per_frame();
    let mut payload = Vec::new();
    while frames.next_into(&mut payload) {
        let mut datagram = Vec::new();
        stream.send(Law::Pcmu.payload_type(), per, &payload, &mut datagram);
        sent.push(datagram);
    }
    assert_eq!(sent.len(), 20);

    // The network: packets 3 and 4 swap, 7 is lost, 10 comes twice, 12 arrives after 15;
    // a STUN keepalive and an RTCP report arrive on the same port.
    let mut stun = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42];
    stun.extend([0; 12]);
    let mut rtcp = vec![0x80, 200, 0x00, 0x06];
    rtcp.extend([0; 24]);
    let order = [
        0, 1, 2, 4, 3, 5, 6, 8, 9, 10, 10, 11, 13, 14, 12, 15, 16, 17, 18, 19,
    ];
    let mut arriving: Vec<&[u8]> = order.iter().map(|&i| sent[i].as_slice()).collect();
    arriving.insert(5, &stun);
    arriving.insert(9, &rtcp);

    let mut jb = JitterBuffer::new(4);
    let mut file = Cursor::new(Vec::new());
    let mut rec = Recorder::new(&mut file, Format::Pcm16Stereo).unwrap();
    let mut at = 0u64;
    let mut refused = 0;
    let mut lost = 0;
    let last = arriving.len() - 1;
    for (k, datagram) in arriving.into_iter().enumerate() {
        let Ok(packet) = rtp::parse(datagram) else {
            refused += 1;
            continue;
        };
        jb.push(&packet);
        loop {
            let frame = if k == last { jb.pop_forced() } else { jb.pop() };
            match frame {
                Some(Frame::Audio {
                    payload_type,
                    samples,
                    payload,
                    ..
                }) => {
                    let law = Law::from_payload_type(payload_type).unwrap();
                    rec.push_g711(Channel::Debtor, at, law, payload).unwrap();
                    at += u64::from(samples);
                }
                Some(Frame::Lost { samples }) | Some(Frame::Silence { samples }) => {
                    lost += samples;
                    at += u64::from(samples);
                }
                None => break,
            }
        }
    }
    let info = rec.finish().unwrap();
    assert_eq!(refused, 2);
    assert_eq!(lost, 160);
    let stats = jb.stats();
    assert_eq!((stats.lost, stats.duplicate, stats.late), (1, 1, 0));
    assert_eq!(info.duration_ms, 400);

    let bytes = file.into_inner();
    let wav = WavReader::new(&bytes).unwrap();
    let debtor = wav.channel(0).unwrap();
    let expect: Vec<i16> = prompt
        .samples()
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            if (7 * 160..8 * 160).contains(&i) {
                0
            } else {
                Law::Pcmu.decode(Law::Pcmu.encode(s))
            }
        })
        .collect();
    assert_eq!(debtor, expect);
    assert!(wav.channel(1).unwrap().iter().all(|&s| s == 0));
}
