//! Peak broker RSS under clients that send large fetches and never read their responses.
//!
//! Starts `$RUNNEL_BIN` (or `--bin`) on a fresh data directory, fills one partition with
//! `--topic-mib` MiB of 1 MB records over the Kafka protocol, then opens `--connections`
//! connections with a 4 KiB receive buffer that each send `--fetches` Fetch requests for
//! 55 MiB (`fetch.max.bytes`) and never read. It samples the broker's VmRSS every 100 ms for
//! `--seconds`, checks that a well-behaved client is still answered, and prints the figures.
//! If RSS passes `--rss-cap-mib` the broker is killed and the run reports it (so an
//! unbounded broker cannot take the machine down). Run through `scripts/slow-readers`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Args {
    bin: String,
    connections: usize,
    fetches: usize,
    topic_mib: usize,
    seconds: u64,
    rss_cap_mib: u64,
}

fn parse_args() -> Args {
    let mut a = Args {
        bin: std::env::var("RUNNEL_BIN").unwrap_or_else(|_| "target/release/runnel".into()),
        connections: 100,
        fetches: 4,
        topic_mib: 500,
        seconds: 10,
        rss_cap_mib: 6000,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let val = argv.get(i + 1).cloned().unwrap_or_default();
        let num = || val.parse::<u64>().expect("a number");
        match argv[i].as_str() {
            "--bin" => a.bin = val.clone(),
            "--connections" => a.connections = num() as usize,
            "--fetches" => a.fetches = num() as usize,
            "--topic-mib" => a.topic_mib = num() as usize,
            "--seconds" => a.seconds = num(),
            "--rss-cap-mib" => a.rss_cap_mib = num(),
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    a
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// (VmRSS, VmHWM) in KiB.
fn rss_kib(pid: u32) -> Option<(u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

struct W(Vec<u8>);
impl W {
    fn new() -> W {
        W(Vec::new())
    }
    fn i8(mut self, v: i8) -> W {
        self.0.push(v as u8);
        self
    }
    fn i16(mut self, v: i16) -> W {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn i32(mut self, v: i32) -> W {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn i64(mut self, v: i64) -> W {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn str(self, s: &str) -> W {
        let mut w = self.i16(s.len() as i16);
        w.0.extend_from_slice(s.as_bytes());
        w
    }
    fn bytes(self, b: &[u8]) -> W {
        let mut w = self.i32(b.len() as i32);
        w.0.extend_from_slice(b);
        w
    }
    fn header(self, key: i16, version: i16, corr: i32) -> W {
        self.i16(key).i16(version).i32(corr).str("slow-readers")
    }
}

fn varint(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// A magic-2 batch holding one record with `value`.
fn batch(value: &[u8]) -> Vec<u8> {
    let mut body = vec![0u8]; // attributes
    varint(&mut body, 0); // timestamp delta
    varint(&mut body, 0); // offset delta
    varint(&mut body, -1); // null key
    varint(&mut body, value.len() as i64);
    body.extend_from_slice(value);
    varint(&mut body, 0); // no headers
    let mut record = Vec::new();
    varint(&mut record, body.len() as i64);
    record.extend_from_slice(&body);
    let now = 1_700_000_000_000i64;
    let mut tail = W::new()
        .i16(0)
        .i32(0)
        .i64(now)
        .i64(now)
        .i64(-1)
        .i16(-1)
        .i32(-1)
        .i32(1)
        .0;
    tail.extend_from_slice(&record);
    let crc = crc32c::crc32c(&tail);
    let mut out = W::new()
        .i64(0)
        .i32((9 + tail.len()) as i32)
        .i32(-1)
        .i8(2)
        .i32(crc as i32)
        .0;
    out.extend_from_slice(&tail);
    out
}

fn send(s: &mut TcpStream, frame: &[u8]) -> std::io::Result<()> {
    s.write_all(&(frame.len() as i32).to_be_bytes())?;
    s.write_all(frame)
}

fn recv(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let mut buf = vec![0u8; i32::from_be_bytes(len).max(0) as usize];
    s.read_exact(&mut buf)?;
    Ok(buf)
}

fn fetch_frame(corr: i32, offset: i64, max_bytes: i32) -> Vec<u8> {
    W::new()
        .header(1, 4, corr)
        .i32(-1)
        .i32(500)
        .i32(1)
        .i32(max_bytes)
        .i8(0)
        .i32(1)
        .str("slow")
        .i32(1)
        .i32(0)
        .i64(offset)
        .i32(max_bytes)
        .0
}

/// Records bytes in a one-partition Fetch v4 response (after the error code check).
fn fetched_bytes(resp: &[u8]) -> Option<usize> {
    // corr, throttle, [topics]=1, name(2+4), [partitions]=1, index, error, hw, lso, aborted
    let name_end = 4 + 4 + 4 + 2 + 4;
    let err_at = name_end + 4 + 4;
    let err = i16::from_be_bytes(resp.get(err_at..err_at + 2)?.try_into().ok()?);
    if err != 0 {
        return None;
    }
    let len_at = err_at + 2 + 8 + 8 + 4;
    let n = i32::from_be_bytes(resp.get(len_at..len_at + 4)?.try_into().ok()?);
    Some(n.max(0) as usize)
}

fn connect_small_window(addr: SocketAddr) -> std::io::Result<TcpStream> {
    // SO_RCVBUF must be set before connect() to bound the advertised window.
    // SAFETY: plain socket syscalls on a descriptor this function owns until wrapped.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let size: libc::c_int = 4096;
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            &size as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
        let std::net::IpAddr::V4(ip) = addr.ip() else {
            panic!("IPv4 only")
        };
        let sa = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: addr.port().to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(ip).to_be(),
            },
            sin_zero: [0; 8],
        };
        if libc::connect(
            fd,
            &sa as *const _ as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        ) < 0
        {
            let e = std::io::Error::last_os_error();
            libc::close(fd);
            return Err(e);
        }
        use std::os::fd::FromRawFd;
        Ok(TcpStream::from_raw_fd(fd))
    }
}

fn metric(http: SocketAddr, name: &str) -> Option<String> {
    let mut s = TcpStream::connect(http).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.lines()
        .find(|l| l.starts_with(name))
        .map(|l| l.to_string())
}

struct Broker(Child);
impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() {
    let a = parse_args();
    let dir = tempfile::tempdir().expect("temp dir");
    let (port, hport) = (free_port(), free_port());
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let http: SocketAddr = format!("127.0.0.1:{hport}").parse().unwrap();
    let child = Command::new(&a.bin)
        .args(["--data-dir", &dir.path().display().to_string()])
        .args([
            "--listen",
            &addr.to_string(),
            "--http-listen",
            &http.to_string(),
        ])
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", a.bin));
    let broker = Broker(child);
    let pid = broker.0.id();
    let started = Instant::now();
    let mut c = loop {
        match TcpStream::connect(addr) {
            Ok(c) => break c,
            Err(_) if started.elapsed() < Duration::from_secs(60) => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("broker did not start: {e}"),
        }
    };
    // Auto-create the topic, then fill it.
    send(&mut c, &W::new().header(3, 1, 1).i32(1).str("slow").0).unwrap();
    recv(&mut c).unwrap();
    let value = vec![0x5au8; 1_000_000];
    let one = batch(&value);
    let records = a.topic_mib * 1024 * 1024 / one.len();
    for i in 0..records {
        let frame = W::new()
            .header(0, 3, i as i32)
            .i16(-1)
            .i16(1)
            .i32(30_000)
            .i32(1)
            .str("slow")
            .i32(1)
            .i32(0)
            .bytes(&one)
            .0;
        send(&mut c, &frame).unwrap();
        recv(&mut c).unwrap();
    }
    let (idle_rss, _) = rss_kib(pid).unwrap_or((0, 0));
    println!(
        "broker {} pid {pid}; topic: {records} records of 1 MB ({} MiB)",
        a.bin,
        (records * one.len()) >> 20
    );
    println!("RSS after filling: {} MiB", idle_rss / 1024);

    let max_fetch = 55 * 1024 * 1024;
    let mut slow = Vec::new();
    let mut peak = 0u64;
    let mut capped = false;
    let t0 = Instant::now();
    for i in 0..a.connections {
        let Ok(mut s) = connect_small_window(addr) else {
            println!("connection {i} refused");
            continue;
        };
        let _ = s.set_write_timeout(Some(Duration::from_secs(1)));
        for f in 0..a.fetches {
            let offset = ((i * 7 + f * 13) % records.saturating_sub(60).max(1)) as i64;
            if send(&mut s, &fetch_frame(f as i32, offset, max_fetch)).is_err() {
                break;
            }
        }
        slow.push(s);
        if let Some((rss, _)) = rss_kib(pid) {
            peak = peak.max(rss);
            if rss / 1024 > a.rss_cap_mib {
                capped = true;
                println!(
                    "RSS {} MiB passed the cap after {} connections: stopping",
                    rss / 1024,
                    i + 1
                );
                break;
            }
        }
    }
    while !capped && t0.elapsed() < Duration::from_secs(a.seconds) {
        if let Some((rss, _)) = rss_kib(pid) {
            peak = peak.max(rss);
            if rss / 1024 > a.rss_cap_mib {
                capped = true;
                println!("RSS {} MiB passed the cap: stopping", rss / 1024);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let hwm = rss_kib(pid).map(|(_, h)| h).unwrap_or(0);
    // A well-behaved client meanwhile.
    let probe = (|| -> std::io::Result<(usize, Duration)> {
        let mut c = TcpStream::connect(addr)?;
        c.set_read_timeout(Some(Duration::from_secs(10)))?;
        let t = Instant::now();
        send(&mut c, &fetch_frame(99, 0, 1024 * 1024))?;
        let resp = recv(&mut c)?;
        Ok((fetched_bytes(&resp).unwrap_or(0), t.elapsed()))
    })();
    println!(
        "{} non-reading connections x {} fetches of 55 MiB, sampled for {:.1} s",
        slow.len(),
        a.fetches,
        t0.elapsed().as_secs_f64()
    );
    println!("peak RSS (sampled): {} MiB", peak / 1024);
    println!(
        "peak RSS (VmHWM, whole run incl. filling): {} MiB",
        hwm / 1024
    );
    match probe {
        Ok((n, t)) => println!("well-behaved fetch: {n} bytes in {} ms", t.as_millis()),
        Err(e) => println!("well-behaved fetch failed: {e}"),
    }
    for m in [
        "runnel_response_bytes_in_flight",
        "runnel_requests_total{api=\"Fetch\",error_code=\"0\"}",
    ] {
        if let Some(line) = metric(http, m) {
            println!("{line}");
        }
    }
    drop(slow);
    drop(broker);
}
