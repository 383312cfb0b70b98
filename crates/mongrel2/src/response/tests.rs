use bytes::Bytes;
use pushpin_tnetstring::{Kind, Value};

use super::*;

fn decode(s: &[u8]) -> Result<Response, Error> {
    Response::decode(&Bytes::copy_from_slice(s), &Limits::default())
}

fn ids(ids: &[u64]) -> Vec<ConnId> {
    ids.iter().copied().map(ConnId).collect()
}

fn sender() -> Bytes {
    Bytes::from_static(b"capture-m2-json")
}

#[test]
fn data_close_and_multiple_targets() {
    let frame = b"capture-m2-json 3:6 7, 6\r\nhello\n\r\n";
    let r = decode(frame).unwrap();
    assert_eq!(r.sender, "capture-m2-json");
    assert_eq!(r.targets, ids(&[6, 7]));
    assert_eq!(
        r.body,
        ResponseBody::Data(Bytes::from_static(b"6\r\nhello\n\r\n"))
    );
    assert_eq!(&r.to_bytes()[..], &frame[..]);

    let close = decode(b"capture-m2-json 1:1, ").unwrap();
    assert_eq!(close, Response::close(sender(), ids(&[1])));
    assert_eq!(&close.to_bytes()[..], b"capture-m2-json 1:1, ");
    assert_eq!(
        &Response::data(sender(), ids(&[1]), Bytes::new()).to_bytes()[..],
        b"capture-m2-json 1:1, ",
        "empty data is a close"
    );
}

#[test]
fn target_list_grammar() {
    // A trailing space is tolerated; leading zeros read as strtoul does.
    assert_eq!(decode(b"s 2:1 , x").unwrap().targets, ids(&[1]));
    assert_eq!(decode(b"s 3:007, x").unwrap().targets, ids(&[7]));
    let cases: &[(&[u8], Error)] = &[
        (b"s 0:, x", Error::NoTargets { offset: 2 }),
        (b"s 2:X , x", Error::NoTargets { offset: 2 }),
        (b"s 1:X, x", Error::InvalidTargets { offset: 4 }),
        (b"s 2: 1, x", Error::InvalidTargets { offset: 4 }),
        (b"s 4:1  2, x", Error::InvalidTargets { offset: 6 }),
        (b"s 2:1x, x", Error::InvalidTargets { offset: 5 }),
        (
            b"s 20:99999999999999999999, x",
            Error::InvalidConnId { offset: 5 },
        ),
        (b"s 1:1,x", Error::ExpectedSpace { offset: 6 }),
        (
            b"s 1:1,",
            Error::Truncated {
                part: Part::Body,
                offset: 6,
            },
        ),
        (
            b"s 1:1",
            Error::Truncated {
                part: Part::Targets,
                offset: 2,
            },
        ),
        (
            b"s 1:1# x",
            Error::UnexpectedType {
                part: Part::Targets,
                found: Kind::Int,
                offset: 2,
            },
        ),
        (
            b"s_x 1:1, x",
            Error::InvalidSender {
                offset: 1,
                byte: b'_',
            },
        ),
        (
            b" 1:1, x",
            Error::EmptyField {
                part: Part::Sender,
                offset: 0,
            },
        ),
    ];
    for (input, want) in cases {
        assert_eq!(
            decode(input).as_ref(),
            Err(want),
            "input {:?}",
            String::from_utf8_lossy(input)
        );
    }
    assert!(matches!(
        decode(b"s 2:1, x"),
        Err(Error::Tnetstring {
            part: Part::Targets,
            offset: 2,
            ..
        })
    ));
}

#[test]
fn target_limit() {
    let limits = Limits {
        max_targets: 2,
        ..Limits::default()
    };
    let ok = Bytes::from_static(b"s 3:1 2, x");
    assert_eq!(Response::decode(&ok, &limits).unwrap().targets.len(), 2);
    let over = Bytes::from_static(b"s 5:1 2 3, x");
    assert_eq!(
        Response::decode(&over, &limits),
        Err(Error::TooManyTargets { max: 2 })
    );
    // 128 ids, as m2adapter batches keep-alives, fit the default.
    let many: Vec<ConnId> = (1..=128).map(ConnId).collect();
    let mut buf = BytesMut::new();
    write_ctl(&mut buf, b"s", &many, &[CtlArg::KeepAlive]);
    let r = Response::decode(&buf.freeze(), &Limits::default()).unwrap();
    assert_eq!(r.targets, many);
    let too_many: Vec<ConnId> = (1..=129).map(ConnId).collect();
    let mut buf = BytesMut::new();
    write_close(&mut buf, b"s", &too_many);
    assert_eq!(
        Response::decode(&buf.freeze(), &Limits::default()),
        Err(Error::TooManyTargets { max: 128 })
    );
}

#[test]
fn ctl_messages_match_the_spec() {
    // spec/mongrel2.md §5.3 and spec/tnetstring.md §6.
    let cases: &[(&[u8], Ctl)] = &[
        (
            b"capture-m2-json 3:X 6, 31:3:ctl,21:10:keep-alive,4:true!}]",
            Ctl::keep_alive(),
        ),
        (
            b"capture-m2-json 3:X 9, 27:3:ctl,17:7:credits,4:8127#}]",
            Ctl::credits(8127),
        ),
        (
            b"capture-m2-json 3:X 7, 26:3:ctl,16:6:cancel,4:true!}]",
            Ctl::cancel(),
        ),
    ];
    for (frame, ctl) in cases {
        let r = decode(frame).unwrap();
        assert_eq!(r.body, ResponseBody::Extended(Extended::Ctl(ctl.clone())));
        assert_eq!(&r.to_bytes()[..], &frame[..]);
        let mut buf = BytesMut::new();
        write_ctl(&mut buf, b"capture-m2-json", &r.targets, &ctl.args);
        assert_eq!(&buf[..], &frame[..]);
    }
    let c = Ctl::credits(5);
    assert_eq!(c.credit_amount(), Some(5));
    assert!(!c.has_keep_alive() && !c.has_cancel());
    assert!(Ctl::keep_alive().has_keep_alive());
    assert!(Ctl::cancel().has_cancel());
}

#[test]
fn combined_and_unknown_ctl_args() {
    let ctl = Ctl {
        args: vec![
            CtlArg::KeepAlive,
            CtlArg::Credits(1),
            CtlArg::Credits(2),
            CtlArg::Other {
                name: Bytes::from_static(b"x"),
                value: Value::List(vec![Value::Int(1), Value::Null]),
            },
        ],
    };
    let r = Response::ctl(sender(), ids(&[1, 2]), ctl.clone());
    let back = Response::decode(&r.to_bytes(), &Limits::default()).unwrap();
    assert_eq!(back, r);
    assert_eq!(ctl.credit_amount(), Some(2), "the last credits wins");
    // keep-alive and cancel take any value; they decode to the typed args.
    let r = decode(b"s 3:X 1, 39:3:ctl,29:10:keep-alive,0:~6:cancel,0:,}]").unwrap();
    assert_eq!(
        r.body,
        ResponseBody::Extended(Extended::Ctl(Ctl {
            args: vec![CtlArg::KeepAlive, CtlArg::Cancel]
        }))
    );
}

#[test]
fn other_extended_messages() {
    let ext = Extended::Other {
        name: Bytes::from_static(b"filter"),
        value: Value::Map(vec![(Bytes::from_static(b"a"), Value::Bool(false))]),
    };
    let mut buf = BytesMut::new();
    write_extended(&mut buf, b"s", &ids(&[4]), &ext);
    assert_eq!(&buf[..], b"s 3:X 4, 25:6:filter,12:1:a,5:false!}]");
    let r = Response::decode(&buf.freeze(), &Limits::default()).unwrap();
    assert_eq!(r.body, ResponseBody::Extended(ext));
}

#[test]
fn extended_errors() {
    let cases: &[(&[u8], Error)] = &[
        (
            b"s 3:X 1, ",
            Error::Truncated {
                part: Part::Extended,
                offset: 9,
            },
        ),
        (
            b"s 3:X 1, 9:3:ctl,0:}]x",
            Error::TrailingBytes {
                part: Part::Extended,
                offset: 21,
            },
        ),
        (
            b"s 3:X 1, 3:ctl,",
            Error::UnexpectedType {
                part: Part::Extended,
                found: Kind::Bytes,
                offset: 9,
            },
        ),
        (
            b"s 3:X 1, 0:]",
            Error::Arity {
                part: Part::Extended,
                len: 0,
            },
        ),
        (
            b"s 3:X 1, 6:3:ctl,]",
            Error::Arity {
                part: Part::Extended,
                len: 1,
            },
        ),
        (
            b"s 3:X 1, 12:3:ctl,0:}0:}]",
            Error::Arity {
                part: Part::Extended,
                len: 3,
            },
        ),
        (
            b"s 3:X 1, 7:1:1#0:}]",
            Error::UnexpectedType {
                part: Part::Extended,
                found: Kind::Int,
                offset: 11,
            },
        ),
        (
            b"s 3:X 1, 9:3:ctl,0:]]",
            Error::UnexpectedType {
                part: Part::CtlArgs,
                found: Kind::List,
                offset: 17,
            },
        ),
        (
            b"s 3:X 1, 24:3:ctl,14:7:credits,1:5,}]",
            Error::UnexpectedType {
                part: Part::Credits,
                found: Kind::Bytes,
                offset: 31,
            },
        ),
        (
            b"s 3:X 1, 25:3:ctl,15:7:credits,2:-1#}]",
            Error::InvalidCredits { value: -1 },
        ),
        (
            b"s 3:X 1, 34:3:ctl,24:7:credits,10:4294967296#}]",
            Error::InvalidCredits {
                value: 4_294_967_296,
            },
        ),
    ];
    for (input, want) in cases {
        assert_eq!(
            decode(input).as_ref(),
            Err(want),
            "input {:?}",
            String::from_utf8_lossy(input)
        );
    }
    assert!(matches!(
        decode(b"s 3:X 1, 24:3:ctl,14:7:credits,1:x#}]"),
        Err(Error::Tnetstring {
            part: Part::Credits,
            ..
        })
    ));
    assert!(matches!(
        decode(b"s 3:X 1, 13:3:ctl,4:1:a,}]"),
        Err(Error::Tnetstring {
            part: Part::CtlArgs,
            ..
        })
    ));
}

#[test]
fn check_sender_grammar() {
    assert_eq!(check_sender(b"pushpin-m2-7999"), Ok(()));
    assert_eq!(
        check_sender(b"pushpin_m2"),
        Err(Error::InvalidSender {
            offset: 7,
            byte: b'_'
        })
    );
    assert_eq!(
        check_sender(b""),
        Err(Error::EmptyField {
            part: Part::Sender,
            offset: 0
        })
    );
}

#[test]
fn data_shares_the_frame() {
    let frame = Bytes::from_static(b"s 1:1, HTTP/1.1 200 OK\r\n\r\n");
    let r = Response::decode(&frame, &Limits::default()).unwrap();
    let ResponseBody::Data(data) = &r.body else {
        panic!("{:?}", r.body)
    };
    assert_eq!(data.as_ptr(), frame[7..].as_ptr());
    assert_eq!(r.sender.as_ptr(), frame.as_ptr());
}
