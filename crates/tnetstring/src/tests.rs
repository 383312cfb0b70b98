use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;

fn decode(s: &[u8]) -> Result<Option<(Value, usize)>, Error> {
    Value::decode(&Bytes::copy_from_slice(s), &Limits::default())
}

fn decode_ok(s: &[u8]) -> Value {
    let (v, used) = decode(s).unwrap().unwrap();
    assert_eq!(
        used,
        s.len(),
        "consumed all of {:?}",
        String::from_utf8_lossy(s)
    );
    v
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

#[test]
fn scalars_from_the_spec_table() {
    assert_eq!(decode_ok(b"5:hello,"), Value::Bytes(b("hello")));
    assert_eq!(decode_ok(b"3:200#"), Value::Int(200));
    assert_eq!(decode_ok(b"2:-1#"), Value::Int(-1));
    assert_eq!(decode_ok(b"1:0#"), Value::Int(0));
    assert_eq!(decode_ok(b"4:1.25^"), Value::Float(1.25));
    assert_eq!(decode_ok(b"4:true!"), Value::Bool(true));
    assert_eq!(decode_ok(b"5:false!"), Value::Bool(false));
    assert_eq!(decode_ok(b"0:~"), Value::Null);
    assert_eq!(decode_ok(b"0:,"), Value::Bytes(Bytes::new()));
    assert_eq!(decode_ok(b"0:]"), Value::List(vec![]));
    assert_eq!(decode_ok(b"0:}"), Value::Map(vec![]));
}

#[test]
fn containers_from_the_spec() {
    assert_eq!(
        decode_ok(b"8:1:a,1:1#]"),
        Value::List(vec![Value::str("a"), Value::Int(1)])
    );
    let headers = b"27:23:4:Host,12:example.test,]]";
    assert_eq!(
        decode_ok(headers),
        Value::List(vec![Value::List(vec![
            Value::str("Host"),
            Value::str("example.test")
        ])])
    );
    // Re-encoding gives the exact captured bytes.
    assert_eq!(decode_ok(headers).to_bytes().as_ref(), headers);
}

#[test]
fn binary_data_is_not_scanned() {
    let raw = b"7:a:b,\x00}],";
    assert_eq!(
        decode_ok(raw),
        Value::Bytes(Bytes::from_static(b"a:b,\x00}]"))
    );
}

#[test]
fn t_message_worked_example() {
    let msg = br#"T94:4:from,7:condure,2:id,5:0-0-7,3:seq,1:1#3:ext,15:5:multi,4:true!}4:body,18:{"hello": "world"},}"#;
    let frame = parse_t_message(msg, &Limits::default()).unwrap();
    assert_eq!(
        frame.get(b"from").unwrap().unwrap().as_bytes().unwrap(),
        b"condure"
    );
    assert_eq!(frame.get(b"seq").unwrap().unwrap().as_int().unwrap(), 1);
    assert_eq!(
        frame.get(b"body").unwrap().unwrap().as_bytes().unwrap(),
        br#"{"hello": "world"}"#
    );
    let ext = frame.get(b"ext").unwrap().unwrap();
    assert!(ext.get(b"multi").unwrap().unwrap().as_bool().unwrap());
    assert!(frame.get(b"missing").unwrap().is_none());
}

#[test]
fn t_message_errors() {
    let l = Limits::default();
    assert_eq!(parse_t_message(b"J{}", &l), Err(Error::MissingPrefix));
    assert_eq!(parse_t_message(b"", &l), Err(Error::MissingPrefix));
    assert_eq!(
        parse_t_message(b"T5:ab", &l),
        Err(Error::Truncated { offset: 1 })
    );
    assert_eq!(
        parse_t_message(b"T0:]", &l),
        Err(Error::WrongType {
            expected: Kind::Map,
            found: Kind::List
        })
    );
}

#[test]
fn trailing_bytes_are_left_for_the_caller() {
    let (v, used) = decode(b"1:a,garbage").unwrap().unwrap();
    assert_eq!(v, Value::str("a"));
    assert_eq!(used, 4);
}

#[test]
fn duplicate_keys_last_wins() {
    let v = decode_ok(b"16:1:k,1:1#1:k,1:2#}");
    assert_eq!(v.get(b"k"), Some(&Value::Int(2)));
    let frame = parse_frame(b"16:1:k,1:1#1:k,1:2#}", &Limits::default())
        .unwrap()
        .unwrap()
        .0;
    assert_eq!(frame.get(b"k").unwrap().unwrap().as_int().unwrap(), 2);
}

#[test]
fn leading_zero_sizes_are_accepted() {
    assert_eq!(decode_ok(b"05:hello,"), Value::str("hello"));
}

#[test]
fn incomplete_is_not_an_error() {
    for s in [
        &b""[..],
        b"1",
        b"12",
        b"5:",
        b"5:hel",
        b"5:hello",
        b"8:1:a,1:1#",
    ] {
        assert_eq!(decode(s), Ok(None), "{:?}", String::from_utf8_lossy(s));
    }
}

#[test]
fn each_error_variant() {
    use Error::*;
    assert_eq!(decode(b":a,"), Err(InvalidLength { offset: 0 }));
    assert_eq!(decode(b"x:a,"), Err(InvalidLength { offset: 0 }));
    assert_eq!(decode(b" 1:a,"), Err(InvalidLength { offset: 0 }));
    assert_eq!(decode(b"1234567890:"), Err(InvalidLength { offset: 0 }));
    let tight = Limits {
        max_len: 4,
        max_depth: 2,
    };
    assert_eq!(
        Value::decode(&b("5:hello,"), &tight),
        Err(TooLong {
            offset: 0,
            len: 5,
            max: 4
        })
    );
    assert_eq!(
        decode(b"1:a?"),
        Err(InvalidTag {
            offset: 0,
            tag: b'?'
        })
    );
    assert_eq!(decode(b"4:5:ab]"), Err(Truncated { offset: 2 }));
    assert_eq!(decode(b"2:1x#"), Err(InvalidInt { offset: 0 }));
    assert_eq!(decode(b"0:#"), Err(InvalidInt { offset: 0 }));
    assert_eq!(
        decode(b"20:99999999999999999999#"),
        Err(InvalidInt { offset: 0 })
    );
    assert_eq!(decode(b"3:abc^"), Err(InvalidFloat { offset: 0 }));
    assert_eq!(decode(b"4:True!"), Err(InvalidBool { offset: 0 }));
    assert_eq!(decode(b"1:x~"), Err(InvalidNull { offset: 0 }));
    assert_eq!(decode(b"8:1:1#1:a,}"), Err(NonStringKey { offset: 2 }));
    assert_eq!(decode(b"4:1:k,}"), Err(MissingValue { offset: 2 }));
    assert_eq!(
        Value::decode(
            &b("6:3:0:]]]"),
            &Limits {
                max_len: 100,
                max_depth: 2
            }
        ),
        Err(TooDeep { max: 2 })
    );
    assert_eq!(
        parse_frame(b"1:a,", &Limits::default())
            .unwrap()
            .unwrap()
            .0
            .as_int(),
        Err(WrongType {
            expected: Kind::Int,
            found: Kind::Bytes
        })
    );
    assert_eq!(
        parse_t_message(b"{}", &Limits::default()),
        Err(MissingPrefix)
    );
}

#[test]
fn errors_read_well() {
    assert_eq!(
        Error::InvalidTag {
            offset: 3,
            tag: b'?'
        }
        .to_string(),
        "invalid type tag 0x3f at offset 3"
    );
    assert_eq!(
        Error::WrongType {
            expected: Kind::Int,
            found: Kind::Bytes
        }
        .to_string(),
        "expected integer, found string"
    );
}

#[test]
fn decoded_strings_share_the_input() {
    let input = b("11:5:hello,0:~]");
    let (v, _) = Value::decode(&input, &Limits::default()).unwrap().unwrap();
    let Value::List(items) = v else {
        panic!("list")
    };
    let Value::Bytes(hello) = &items[0] else {
        panic!("bytes")
    };
    assert_eq!(hello.as_ptr(), input[5..].as_ptr());
}

#[test]
fn writers_produce_canonical_bytes() {
    let mut buf = BytesMut::new();
    write_t_message(&mut buf, |buf| {
        write_bytes(buf, b"seq");
        write_int(buf, -42);
        write_bytes(buf, b"l");
        write_list(buf, |buf| {
            write_bool(buf, true);
            write_bool(buf, false);
            write_null(buf);
        });
    });
    assert_eq!(&buf[..], b"T38:3:seq,3:-42#1:l,18:4:true!5:false!0:~]}");
    let mut buf = BytesMut::new();
    write_int(&mut buf, i64::MIN);
    assert_eq!(&buf[..], b"20:-9223372036854775808#");
    assert_eq!(decode_ok(&buf), Value::Int(i64::MIN));
}

#[test]
fn container_prefix_grows_past_one_digit() {
    // A container whose size needs more digits than one still encodes exactly.
    let big = Value::List(vec![Value::Bytes(Bytes::from(vec![b'x'; 123_456]))]);
    let bytes = big.to_bytes();
    assert!(bytes.starts_with(b"123464:123456:x"));
    assert_eq!(decode_ok(&bytes), big);
}

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(|v| Value::Bytes(Bytes::from(v))),
        any::<i64>().prop_map(Value::Int),
        (-1.0e12f64..1.0e12).prop_map(Value::Float),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::List),
            proptest::collection::vec(
                (
                    proptest::collection::vec(any::<u8>(), 0..10).prop_map(Bytes::from),
                    inner
                ),
                0..8
            )
            .prop_map(Value::Map),
        ]
    })
}

proptest! {
    #[test]
    fn encode_then_decode_is_identity(v in arb_value()) {
        let bytes = v.to_bytes();
        let (back, used) = Value::decode(&bytes, &Limits::default()).unwrap().unwrap();
        prop_assert_eq!(used, bytes.len());
        prop_assert_eq!(back, v);
    }

    #[test]
    fn every_strict_prefix_is_incomplete(v in arb_value()) {
        let bytes = v.to_bytes();
        for cut in 0..bytes.len() {
            let prefix = bytes.slice(..cut);
            prop_assert_eq!(Value::decode(&prefix, &Limits::default()), Ok(None));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        let bytes = Bytes::from(data);
        let _ = Value::decode(&bytes, &Limits::default());
        let _ = parse_t_message(&bytes, &Limits::default());
        if let Ok(Some((frame, _))) = parse_frame(&bytes, &Limits::default()) {
            if let Ok(iter) = frame.map() { for e in iter { let _ = e; } }
            if let Ok(iter) = frame.list() { for e in iter { let _ = e; } }
        }
    }

    #[test]
    fn mutated_valid_input_never_panics(v in arb_value(), pos in any::<usize>(), byte in any::<u8>()) {
        let mut raw = v.to_bytes().to_vec();
        if !raw.is_empty() {
            let at = pos % raw.len();
            raw[at] = byte;
        }
        let _ = Value::decode(&Bytes::from(raw), &Limits::default());
    }
}
