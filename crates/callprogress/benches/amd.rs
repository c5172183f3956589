//! What answering-machine detection costs per call: RTP packets of 20 ms PCMU parsed
//! (rtp-rs), decoded (media::g711) and pushed into a [`Detector`], on one thread, and from
//! that how many calls in analysis one core carries at 50 packets/s each.
//!
//! ```sh
//! cargo bench -p callprogress --bench amd
//! ```
//!
//! 1,000 calls are interleaved packet by packet, as a media thread would see them, each
//! call a fresh detector that is replaced by a new call once it decides. Three mixes:
//! answered calls as they come (people, machines, silence), machines only (every frame
//! voiced: the beep search runs on each), and people only. Criterion measures each; the
//! summary at the end times a longer run of each mix and prints packets/s and calls per
//! core.

use std::hint::black_box;
use std::time::Instant;

use callprogress::{AmdConfig, Detector};
use criterion::{Criterion, Throughput};
use media::g711::Law;
use rtp_rs::{RtpPacketBuilder, RtpReader, Seq};

const CALLS: usize = 1000;
const PACKET: usize = 160;

/// Deterministic noise in [-1, 1).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// Speech-like audio: syllables of a gliding harmonic voice (F0 100-220 Hz, 12 harmonics)
/// with breath noise, 120-320 ms each, `gap_ms` apart.
fn speech(rng: &mut Rng, ms: usize, gap_ms: usize) -> Vec<i16> {
    let mut x = Vec::with_capacity(ms * 8);
    while x.len() < ms * 8 {
        let syl = (120.0 + 200.0 * (rng.next() + 1.0) / 2.0) as usize * 8;
        let f0 = 100.0 + 60.0 * (rng.next() + 1.0);
        let mut phase = 0.0f32;
        for i in 0..syl {
            let t = i as f32 / syl as f32;
            let env = (std::f32::consts::PI * t).sin();
            phase += 2.0 * std::f32::consts::PI * f0 * (1.0 + 0.2 * t) / 8000.0;
            let voiced: f32 = (1..=12).map(|h| (phase * h as f32).sin() / h as f32).sum();
            x.push((env * (2500.0 * voiced + 300.0 * rng.next())) as i16);
        }
        x.extend(std::iter::repeat_n(0, gap_ms * 8));
    }
    x.truncate(ms * 8);
    x
}

fn silence(ms: usize) -> Vec<i16> {
    vec![0; ms * 8]
}

/// One answered call's first 6 s.
fn call(kind: usize, rng: &mut Rng) -> Vec<i16> {
    let mut x = Vec::new();
    match kind {
        // A person: "Hello?", then waiting.
        0 => {
            x.extend(silence(500));
            x.extend(speech(rng, 450, 60));
            x.extend(silence(5050));
        }
        // A machine: a greeting that goes on.
        1 => {
            x.extend(silence(300));
            x.extend(speech(rng, 5700, 60));
        }
        // Nobody says anything.
        _ => x.extend(silence(6000)),
    }
    x
}

/// Every call's packets, PCMU in RTP.
fn packets(kinds: &[usize]) -> Vec<Vec<Vec<u8>>> {
    let mut rng = Rng(0x5EED);
    kinds
        .iter()
        .enumerate()
        .map(|(n, &k)| {
            let audio = call(k, &mut rng);
            let mut seq = Seq::from(n as u16);
            audio
                .chunks(PACKET)
                .enumerate()
                .map(|(i, c)| {
                    let mut payload = Vec::with_capacity(PACKET);
                    Law::Pcmu.encode_into(c, &mut payload);
                    seq = seq.next();
                    RtpPacketBuilder::new()
                        .payload_type(0)
                        .ssrc(n as u32)
                        .sequence(seq)
                        .timestamp((i * PACKET) as u32)
                        .payload(&payload)
                        .build()
                        .expect("packet")
                })
                .collect()
        })
        .collect()
}

/// The calls in analysis, and where each is in its packet stream.
struct Pool<'a> {
    streams: &'a [Vec<Vec<u8>>],
    detectors: Vec<Detector>,
    at: Vec<usize>,
    cfg: AmdConfig,
    pcm: Vec<i16>,
}

impl<'a> Pool<'a> {
    fn new(streams: &'a [Vec<Vec<u8>>]) -> Self {
        let cfg = AmdConfig::default();
        Pool {
            streams,
            detectors: streams.iter().map(|_| Detector::new(&cfg)).collect(),
            at: vec![0; streams.len()],
            cfg,
            pcm: Vec::with_capacity(PACKET),
        }
    }

    /// One packet for each call: parse, decode, detect. Returns the decisions made.
    fn round(&mut self) -> usize {
        let mut decided = 0;
        for (i, stream) in self.streams.iter().enumerate() {
            let Some(bytes) = stream.get(self.at[i]) else {
                self.restart(i);
                continue;
            };
            self.at[i] += 1;
            let Ok(rtp) = RtpReader::new(bytes) else {
                continue;
            };
            let Some(law) = Law::from_payload_type(rtp.payload_type()) else {
                continue;
            };
            self.pcm.clear();
            law.decode_into(rtp.payload(), &mut self.pcm);
            if self.detectors[i].push(&self.pcm).is_some() {
                decided += 1;
                self.restart(i);
            }
        }
        decided
    }

    /// The call is decided: the next call on this slot starts.
    fn restart(&mut self, i: usize) {
        self.detectors[i] = Detector::new(&self.cfg);
        self.at[i] = 0;
    }
}

fn mixes() -> Vec<(&'static str, Vec<usize>)> {
    // As they come: 45 % people, 45 % machines, 10 % silence.
    let mixed = (0..CALLS)
        .map(|i| [0, 1, 0, 1, 0, 1, 0, 1, 0, 2][i % 10])
        .collect();
    vec![
        ("mixed", mixed),
        ("machines", vec![1; CALLS]),
        ("people", vec![0; CALLS]),
    ]
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let all: Vec<(&str, Vec<Vec<Vec<u8>>>)> = mixes()
        .into_iter()
        .map(|(name, kinds)| (name, packets(&kinds)))
        .collect();
    {
        let mut g = c.benchmark_group("rtp_decode_amd");
        g.throughput(Throughput::Elements(CALLS as u64));
        for (name, streams) in &all {
            let mut pool = Pool::new(streams);
            g.bench_function(*name, |b| b.iter(|| black_box(pool.round())));
        }
        g.finish();
    }
    c.final_summary();

    println!(
        "\nparse + PCMU decode + Detector::push per 20 ms packet, one thread, {CALLS} calls interleaved:"
    );
    for (name, streams) in &all {
        let mut pool = Pool::new(streams);
        for _ in 0..200 {
            pool.round();
        }
        let rounds = 3000;
        let start = Instant::now();
        let mut decided = 0;
        for _ in 0..rounds {
            decided += pool.round();
        }
        let secs = start.elapsed().as_secs_f64();
        let pps = (rounds * CALLS) as f64 / secs;
        println!(
            "  {name:>8}: {:>6.0} ns/packet, {:>10.0} packets/s, {:>7.0} concurrent analysed calls per core at 50 packets/s ({decided} decisions)",
            1e9 / pps,
            pps,
            pps / 50.0
        );
    }
}
