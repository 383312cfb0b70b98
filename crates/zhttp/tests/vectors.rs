//! The captured wire vectors (`tests/vectors/`, copied from `spec/vectors/`): every
//! ZHTTP frame decodes, re-encoding decodes to the same packet, condure's own
//! packets re-encode byte for byte, and specific packets have the expected fields.

use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::{Bytes, BytesMut};
use pushpin_tnetstring::Value;
use pushpin_zhttp::framing::{self, parse_dealer, parse_pub, parse_router, single};
use pushpin_zhttp::{
    Condition, ContentType, Format, Header, Id, IdSeq, Ids, Limits, Packet, PacketType,
};
use serde_json::Value as Json;

/// One `zmq` record of a vector file.
#[derive(Debug)]
struct Record {
    file: String,
    seq: u64,
    dir: String,
    sock: String,
    endpoint: String,
    frames: Vec<Bytes>,
}

/// A ZHTTP packet found in a record.
#[derive(Debug)]
struct Found {
    record: Record,
    /// The PUB address, for PUB/SUB hops.
    address: Option<Bytes>,
    payload: Bytes,
}

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

/// The `.jsonl` files of a vectors subfolder, sorted by name.
fn files(sub: &str) -> Vec<PathBuf> {
    let mut out: Vec<_> = fs::read_dir(vectors_dir().join(sub))
        .expect("vectors folder exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    out.sort();
    out
}

fn records(path: &Path) -> Vec<Record> {
    let name = path
        .strip_prefix(vectors_dir())
        .expect("inside vectors")
        .display()
        .to_string();
    fs::read_to_string(path)
        .expect("readable vector file")
        .lines()
        .map(|line| serde_json::from_str::<Json>(line).expect("valid JSON line"))
        .filter(|r| r["kind"] == "zmq")
        .map(|r| Record {
            file: name.clone(),
            seq: r["seq"].as_u64().expect("seq"),
            dir: r["dir"].as_str().unwrap_or_default().to_owned(),
            sock: r["sock"].as_str().unwrap_or_default().to_owned(),
            endpoint: r["endpoint"].as_str().unwrap_or_default().to_owned(),
            frames: r["frames_b64"]
                .as_array()
                .expect("frames_b64")
                .iter()
                .map(|f| Bytes::from(B64.decode(f.as_str().expect("b64 text")).expect("b64")))
                .collect(),
        })
        .collect()
}

/// Takes the packet out of a record with the framing helper of the receiving socket.
/// `None` for records that are not ZHTTP (internal RPC and stats sockets).
fn payload_of(record: Record) -> Option<Found> {
    if record.file.starts_with("internal/") && !record.endpoint.starts_with("intreq") {
        return None;
    }
    // Relay captures name both sockets (`ROUTER->DEALER`); the frames are as the
    // receiving socket sees them, minus the relay's own routing id.
    let receiver = record.sock.rsplit("->").next().unwrap_or_default();
    let frames = &record.frames;
    let (address, payload) = match receiver {
        "PULL" | "PUSH" => (None, single(frames).expect("one frame").clone()),
        "PUB" | "SUB" => {
            let m = parse_pub(single(frames).expect("one frame")).expect("PUB frame");
            (Some(m.address), m.payload)
        }
        "DEALER" => (None, parse_dealer(frames).expect("dealer frames").clone()),
        "ROUTER" if frames.first().is_some_and(Bytes::is_empty) => {
            (None, parse_dealer(frames).expect("dealer-shaped").clone())
        }
        "ROUTER" => (
            None,
            parse_router(frames).expect("router frames").payload.clone(),
        ),
        other => panic!("{}#{}: unexpected socket {other}", record.file, record.seq),
    };
    Some(Found {
        record,
        address,
        payload,
    })
}

fn all_packets() -> Vec<Found> {
    ["condure", "zurl", "pushpin", "internal"]
        .into_iter()
        .flat_map(files)
        .flat_map(|path| records(&path))
        .filter_map(payload_of)
        .collect()
}

fn packets_in(file: &str) -> Vec<(Found, Packet)> {
    all_packets()
        .into_iter()
        .filter(|f| f.record.file == file)
        .map(|f| {
            let p = Packet::decode(&f.payload, &Limits::default()).expect("decodes");
            (f, p)
        })
        .collect()
}

fn b(x: &'static str) -> Bytes {
    Bytes::from_static(x.as_bytes())
}

#[test]
fn every_zhttp_frame_decodes_and_round_trips() {
    let limits = Limits::default();
    let mut files = std::collections::BTreeSet::new();
    let (mut tnet, mut json) = (0, 0);
    for found in all_packets() {
        let at = format!("{}#{}", found.record.file, found.record.seq);
        let (packet, format) = Packet::decode_with_format(&found.payload, &limits)
            .unwrap_or_else(|e| panic!("{at}: {e:?}"));
        let mut buf = BytesMut::new();
        packet.encode_as(format, &mut buf);
        let again = Packet::decode(&buf.freeze(), &limits)
            .unwrap_or_else(|e| panic!("{at}: re-encoded packet fails: {e:?}"));
        assert_eq!(again, packet, "{at}");
        // The T encoding is canonical: encoding the re-decoded packet is stable.
        assert_eq!(again.to_bytes(), packet.to_bytes(), "{at}");
        match format {
            Format::Tnet => tnet += 1,
            Format::Json => json += 1,
        }
        files.insert(found.record.file);
    }
    // 11 condure + 6 zurl + 19 pushpin relay files + 1 internal file.
    assert_eq!(files.len(), 37);
    assert_eq!((tnet, json), (260, 2));
    assert_eq!(tnet + json, 262);
}

#[test]
fn condure_packets_re_encode_byte_for_byte() {
    let mut n = 0;
    for found in all_packets() {
        if !found.record.dir.starts_with("condure->") {
            continue;
        }
        let p = Packet::decode(&found.payload, &Limits::default()).expect("decodes");
        assert_eq!(
            p.to_bytes(),
            found.payload,
            "{}#{}",
            found.record.file,
            found.record.seq
        );
        n += 1;
    }
    assert_eq!(n, 59);
}

#[test]
fn pub_frames_split_and_rebuild() {
    let mut n = 0;
    for found in all_packets() {
        let Some(address) = &found.address else {
            continue;
        };
        let at = format!("{}#{}", found.record.file, found.record.seq);
        assert!(!address.is_empty() && !address.contains(&b' '), "{at}");
        let p = Packet::decode(&found.payload, &Limits::default()).expect("decodes");
        assert!(p.from.as_ref() != address.as_ref(), "{at}: sent to itself");
        let rebuilt = parse_pub(&framing::pub_frame(address, &p)).expect("PUB frame");
        assert_eq!(&rebuilt.address, address, "{at}");
        assert_eq!(
            Packet::decode(&rebuilt.payload, &Limits::default()).expect("decodes"),
            p,
            "{at}"
        );
        n += 1;
    }
    assert_eq!(n, 136);
}

#[test]
fn condure_first_get_packet() {
    let packets = packets_in("condure/get.jsonl");
    let (found, p) = &packets[0];
    assert_eq!(found.record.endpoint, "condure-out");
    assert_eq!(p.from, "condure");
    assert_eq!(p.ids, Ids::One(Id::from("0-1-2")));
    assert_eq!(p.seq, Some(0));
    assert!(p.ext.multi);
    assert_eq!(p.ptype, PacketType::Data);
    assert_eq!(p.method.as_deref(), Some(&b"GET"[..]));
    assert_eq!(
        p.uri.as_deref(),
        Some(&b"http://127.0.0.1:17010/hello/world?a=1&b=%20x"[..])
    );
    assert_eq!(
        p.header_list(),
        [
            Header::new("Host", "127.0.0.1:17010"),
            Header::new("User-Agent", "curl/7.88.1"),
            Header::new("Accept", "*/*"),
            Header::new("X-Test", "yes"),
        ]
    );
    assert_eq!(p.credits, Some(8192));
    assert!(p.stream);
    assert!(!p.more);
    assert_eq!(p.body, None);
    assert_eq!(p.peer_address.as_deref(), Some(&b"127.0.0.1"[..]));
    assert_eq!(p.peer_port, Some(50922));

    let (found, resp) = &packets[1];
    assert_eq!(found.address.as_deref(), Some(&b"condure"[..]));
    assert_eq!(resp.from, "capture-handler_7378");
    assert_eq!(resp.seq, Some(0));
    assert_eq!(resp.code, Some(200));
    assert_eq!(resp.reason.as_deref(), Some(&b"OK"[..]));
    assert_eq!(
        resp.header_list(),
        [Header::new("Content-Type", "text/plain")]
    );
    assert_eq!(resp.body_bytes(), b"hello world\n");
    assert!(!resp.more);
}

#[test]
fn batched_keep_alive_with_list_form_ids() {
    let batches: Vec<Packet> = packets_in("condure/silent-timeout.jsonl")
        .into_iter()
        .map(|(_, p)| p)
        .filter(|p| matches!(p.ids, Ids::Many(_)))
        .collect();
    assert_eq!(batches.len(), 2);
    let p = &batches[0];
    assert_eq!(p.ptype, PacketType::KeepAlive);
    assert_eq!(p.from, "condure");
    assert_eq!(p.seq, None);
    assert!(p.ext.multi);
    assert_eq!(
        p.ids,
        Ids::Many(vec![IdSeq::new("0-0-0", 2), IdSeq::new("0-1-1", 2)])
    );
    assert_eq!(p.id(), None);
    let targets: Vec<_> = batches[1]
        .targets()
        .map(|(id, seq)| (id.clone(), seq))
        .collect();
    assert_eq!(
        targets,
        [(Id::from("1-0-0"), Some(2)), (Id::from("1-1-1"), Some(2))]
    );
}

#[test]
fn zurl_error_conditions() {
    let packets = packets_in("zurl/errors.jsonl");
    let conditions: Vec<_> = packets
        .iter()
        .filter(|(_, p)| p.ptype == PacketType::Error)
        .map(|(_, p)| p.condition.clone().expect("condition"))
        .collect();
    assert_eq!(
        conditions,
        [
            Condition::RemoteConnectionFailed,
            Condition::PolicyViolation,
            Condition::BadRequest
        ]
    );
    // The cancel for an unknown id has neither `from` nor `seq`.
    let (found, last) = packets.last().expect("packets");
    assert_eq!(found.record.dir, "zurl->client");
    assert_eq!(last.ptype, PacketType::Cancel);
    assert_eq!(last.ids, Ids::One(Id::from("e-5")));
    assert!(last.from.is_empty());
    assert_eq!(last.seq, None);
    // The request without a method that zurl rejected.
    let (_, no_method) = &packets[5];
    assert_eq!(no_method.method, None);
    assert_eq!(no_method.id(), Some(&Id::from("e-3")));
}

#[test]
fn zurl_json_format() {
    let packets = packets_in("zurl/req-mode.jsonl");
    let json: Vec<_> = packets
        .iter()
        .filter(|(f, _)| f.payload.starts_with(b"J"))
        .collect();
    assert_eq!(json.len(), 2);
    let (_, req) = json[0];
    assert_eq!(req.id(), Some(&Id::from("req-2")));
    assert_eq!(req.method.as_deref(), Some(&b"POST"[..]));
    assert_eq!(req.body_bytes(), b"json body");
    assert_eq!(req.seq, None);

    let (found, resp) = json[1];
    assert_eq!(resp.code, Some(200));
    assert_eq!(resp.seq, Some(0));
    assert_eq!(resp.body_bytes(), b"echo:json body");
    assert_eq!(resp.header_list().len(), 4);
    // zurl answers with sorted keys, compact: our JSON encoding matches byte for byte.
    let mut buf = BytesMut::new();
    resp.encode_json(&mut buf);
    assert_eq!(buf.freeze(), found.payload);
}

#[test]
fn zurl_echoes_user_data() {
    let packets = packets_in("zurl/req-mode.jsonl");
    let (_, req) = &packets[0];
    let (_, resp) = &packets[1];
    let expected = Value::Map(vec![(b("anything"), Value::str("echoed"))]);
    assert_eq!(req.user_data.as_ref(), Some(&expected));
    assert_eq!(resp.user_data.as_ref(), Some(&expected));
    assert_eq!(resp.header_list()[4], Header::new("X-Origin", "yes"));
}

#[test]
fn websocket_messages() {
    let packets: Vec<Packet> = packets_in("condure/ws.jsonl")
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    let first = &packets[0];
    assert_eq!(first.uri.as_deref(), Some(&b"ws://example.test/ws?x=1"[..]));
    assert!(!first.stream);
    let accept = &packets[1];
    assert_eq!((accept.code, accept.credits), (Some(101), Some(16384)));
    assert_eq!(packets[2].content_type, Some(ContentType::Text));
    assert_eq!(packets[3].content_type, Some(ContentType::Binary));
    assert_eq!(packets[3].body_bytes(), b"\0\x01\x02binary");
    assert!(packets[5].is_binary());
    assert_eq!(packets[5].body_bytes(), b"\xff\xfe");
    assert_eq!(packets[6].ptype, PacketType::Ping);
    assert_eq!(packets[6].body_bytes(), b"pp");
    let close = &packets[11];
    assert_eq!(close.ptype, PacketType::Close);
    assert_eq!(close.code, Some(1000));
    assert_eq!(close.body_bytes(), b"done");

    // zurl's close reply carries an empty, present body.
    let zurl_close = packets_in("zurl/ws.jsonl").pop().expect("packets").1;
    assert_eq!(zurl_close.ptype, PacketType::Close);
    assert_eq!(zurl_close.body, Some(Bytes::new()));
    assert_eq!(zurl_close.from, "zurl-capture");
}

#[test]
fn handoff_sequence() {
    let types: Vec<_> = packets_in("condure/handoff.jsonl")
        .into_iter()
        .map(|(f, p)| (p.ptype, p.seq, p.from, f.record.endpoint))
        .collect();
    assert_eq!(types[2].0, PacketType::HandoffStart);
    assert_eq!(
        types[3],
        (
            PacketType::HandoffProceed,
            Some(1),
            b("condure"),
            "condure-out-stream".to_owned()
        )
    );
    // The new owner continues the same seq with its own `from`.
    assert_eq!(types[4].1, Some(2));
    assert_eq!(types[4].2, "capture-handler2_17244");
    assert_eq!(types[6].0, PacketType::Cancel);
}

#[test]
fn proxy_request_to_zurl() {
    let (_, p) = packets_in("pushpin/get.zurl-side.jsonl").swap_remove(0);
    assert_eq!(p.from, "pushpin-proxy_22325");
    assert!(p.stream && p.ignore_policies && p.ext.multi);
    assert_eq!(p.credits, Some(200_000));
    assert_eq!(p.connect_host.as_deref(), Some(&b"127.0.0.1"[..]));
    assert_eq!(p.connect_port, Some(17020));
    assert!(p.header_list().iter().any(|h| h.is(b"grip-sig")));
}

#[test]
fn internal_request_passthrough() {
    let packets = packets_in("internal/next-link-intreq.jsonl");
    assert_eq!(packets.len(), 5);
    let (found, p) = &packets[0];
    assert_eq!(found.record.endpoint, "intreq-in");
    assert_eq!(p.from, "pushpin-handler_10680");
    let passthrough = p.passthrough.as_ref().expect("passthrough");
    assert_eq!(passthrough.get(b"route"), Some(&Value::str("main")));
    assert_eq!(passthrough.get(b"trusted"), Some(&Value::Bool(true)));
    assert_eq!(packets[4].1.body_bytes(), b"page2\n");
}

#[test]
fn req_mode_has_no_from_or_seq() {
    let packets = packets_in("condure/req-mode.jsonl");
    let (found, req) = &packets[0];
    assert_eq!(found.record.endpoint, "condure-req");
    assert!(req.from.is_empty());
    assert_eq!(req.seq, None);
    assert_eq!(req.body_bytes(), b"abc=123");
    // The reply goes back on the envelope the request came with.
    let routed = parse_router(&found.record.frames).expect("router frames");
    let reply = framing::reply_frames(routed.envelope, packets[1].1.to_bytes());
    assert_eq!(reply.len(), 3);
    assert_eq!(reply[0], found.record.frames[0]);
}
