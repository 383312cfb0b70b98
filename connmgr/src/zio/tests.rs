use std::collections::VecDeque;

use bytes::Bytes;
use pushpin_zhttp::{Ids, Limits, Packet, PacketType, framing};
use pushpin_zmq::Multipart;

use super::{MAX_IDS, ToResponder, encode_batch};

fn credit(to: &str, id: &str, seq: u32, credits: u32) -> ToResponder {
    ToResponder::Credit {
        to: Bytes::from(to.to_owned()),
        id: Bytes::from(id.to_owned()),
        seq,
        credits,
    }
}

fn data(to: &str, id: &str, seq: u32) -> ToResponder {
    let mut p = Packet::new(PacketType::Data);
    p.ids = Ids::One(pushpin_zhttp::Id(Bytes::from(id.to_owned())));
    p.seq = Some(seq);
    p.body = Some(Bytes::from_static(b"x"));
    ToResponder::Packet {
        to: Bytes::from(to.to_owned()),
        payload: p.to_bytes(),
    }
}

/// `(responder, packet)` for each message queued, in order.
fn encode(batch: Vec<ToResponder>) -> Vec<(Bytes, Packet)> {
    let mut batch = batch;
    let mut queue: VecDeque<Multipart> = VecDeque::new();
    encode_batch(&mut batch, &Bytes::from_static(b"cm"), &mut queue);
    assert!(batch.is_empty());
    queue
        .into_iter()
        .map(|m| {
            let r = framing::parse_router(m.as_slice()).unwrap();
            let p = Packet::decode(r.payload, &Limits::default()).unwrap();
            (r.envelope[0].clone(), p)
        })
        .collect()
}

/// `(id, seq)` of one session a packet addresses.
type Target = (String, Option<u32>);

/// `(id, seq)` for every session a packet addresses.
fn targets(p: &Packet) -> Vec<Target> {
    p.targets()
        .map(|(id, seq)| (String::from_utf8_lossy(&id.0).into_owned(), seq))
        .collect()
}

#[test]
fn consecutive_credits_for_one_responder_become_one_list_form_packet() {
    let out = encode(
        (0..5)
            .map(|i| credit("h", &format!("s{i}"), 3, 100))
            .collect(),
    );
    assert_eq!(out.len(), 1);
    let (to, p) = &out[0];
    assert_eq!(to.as_ref(), b"h");
    assert_eq!(p.ptype, PacketType::Credit);
    assert_eq!(p.credits, Some(100));
    assert_eq!(p.from.as_ref(), b"cm");
    assert!(p.ext.multi);
    assert!(matches!(p.ids, Ids::Many(_)));
    assert_eq!(
        targets(p),
        (0..5)
            .map(|i| (format!("s{i}"), Some(3)))
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_lone_credit_stays_a_plain_packet() {
    let out = encode(vec![credit("h", "s1", 7, 10)]);
    assert_eq!(out.len(), 1);
    let p = &out[0].1;
    assert!(matches!(p.ids, Ids::One(_)));
    assert_eq!(p.seq, Some(7));
    assert_eq!(p.credits, Some(10));
}

#[test]
fn runs_break_on_another_responder_amount_or_packet_and_order_is_kept() {
    let out = encode(vec![
        credit("h", "a", 1, 10),
        credit("h", "b", 1, 10),
        credit("p", "c", 1, 10), // another responder
        credit("p", "d", 1, 20), // another amount
        data("h", "a", 2),       // a packet between
        credit("h", "a", 3, 10),
        credit("h", "e", 1, 10),
    ]);
    let summary: Vec<(String, PacketType, Vec<Target>)> = out
        .iter()
        .map(|(to, p)| {
            (
                String::from_utf8_lossy(to).into_owned(),
                p.ptype.clone(),
                targets(p),
            )
        })
        .collect();
    let s = |x: &str| x.to_owned();
    assert_eq!(
        summary,
        vec![
            (
                s("h"),
                PacketType::Credit,
                vec![(s("a"), Some(1)), (s("b"), Some(1))]
            ),
            (s("p"), PacketType::Credit, vec![(s("c"), Some(1))]),
            (s("p"), PacketType::Credit, vec![(s("d"), Some(1))]),
            (s("h"), PacketType::Data, vec![(s("a"), Some(2))]),
            (
                s("h"),
                PacketType::Credit,
                vec![(s("a"), Some(3)), (s("e"), Some(1))]
            ),
        ]
    );
}

#[test]
fn a_packet_carries_at_most_the_id_limit() {
    let n = MAX_IDS + 2;
    let out = encode(
        (0..n)
            .map(|i| credit("h", &format!("s{i}"), 0, 1))
            .collect(),
    );
    let sizes: Vec<usize> = out.iter().map(|(_, p)| targets(p).len()).collect();
    assert_eq!(sizes, vec![MAX_IDS, 2]);
}
