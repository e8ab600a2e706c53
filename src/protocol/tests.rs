use super::*;

fn relay(text: &str) -> Relay<'_> {
    match parse_client_frame(text) {
        Ok(ClientFrame::Relay(r)) => r,
        other => panic!("{text}: {other:?}"),
    }
}

fn bad(text: &str) -> String {
    parse_client_frame(text).expect_err(text).to_string()
}

#[test]
fn frame_errors_are_typed() {
    let err = |text: &str| parse_client_frame(text).expect_err(text);
    assert_eq!(err("[1]"), FrameError::NotAnObject);
    assert!(matches!(err("{"), FrameError::NotJson(_)));
    assert_eq!(err(r#"{"to":"b"}"#), FrameError::Missing("type"));
    assert_eq!(err(r#"{"type":5}"#), FrameError::NotAString("type"));
    assert_eq!(err(r#"{"type":"x"}"#), FrameError::UnknownType("x".into()));
    assert_eq!(
        err(r#"{"type":"offer","to":"b"}"#),
        FrameError::Missing("sdp")
    );
    assert_eq!(
        err(r#"{"type":"message","data":1,"data":2}"#),
        FrameError::Repeated("data")
    );
    assert_eq!(PeerId::parse("a b"), Err(InvalidId("peer")));
}

fn alice() -> PeerId {
    PeerId::parse("alice").unwrap()
}

#[test]
fn ids_use_the_url_safe_alphabet() {
    assert!(is_valid_id("a"));
    assert!(is_valid_id("Room_1-x"));
    assert!(is_valid_id(&"z".repeat(64)));
    assert!(!is_valid_id(""));
    assert!(!is_valid_id(&"z".repeat(65)));
    for bad in ["a b", "a.b", "a/b", "é", "a%20", "a\n"] {
        assert!(!is_valid_id(bad), "{bad:?}");
    }
}

#[test]
fn random_peer_ids_are_128_bits_of_hex() {
    let id = PeerId::from_random([0xab; 16]);
    assert_eq!(id.as_str(), "ab".repeat(16));
    assert!(is_valid_id(id.as_str()));
    assert_ne!(PeerId::from_random([0; 16]), PeerId::from_random([1; 16]));
}

#[test]
fn ids_refuse_bad_values_when_deserialized() {
    assert!(serde_json::from_str::<PeerId>(r#""ok""#).is_ok());
    assert!(serde_json::from_str::<PeerId>(r#""not ok""#).is_err());
}

#[test]
fn offer_answer_candidate_and_message_parse() {
    let r = relay(r#"{"type":"offer","to":"bob","sdp":"v=0"}"#);
    assert_eq!((r.kind, r.to.as_deref()), (RelayKind::Offer, Some("bob")));
    let r = relay(r#"{"type":"answer","to":"bob","sdp":"v=0"}"#);
    assert_eq!(r.kind, RelayKind::Answer);
    let r = relay(r#"{"type":"candidate","to":"bob","candidate":{"candidate":"c","sdpMid":"0"}}"#);
    assert_eq!(r.kind, RelayKind::Candidate);
    let r = relay(r#"{"type":"message","data":[1,2]}"#);
    assert_eq!((r.kind, r.to), (RelayKind::Message, None));
    let r = relay(r#"{"type":"message","to":"bob","data":null}"#);
    assert_eq!(r.to.as_deref(), Some("bob"));
}

#[test]
fn leave_and_ping_parse_with_any_spacing() {
    assert_eq!(
        parse_client_frame(r#"{"type":"leave"}"#),
        Ok(ClientFrame::Leave)
    );
    assert_eq!(parse_client_frame(PING_FRAME), Ok(ClientFrame::Ping));
    assert_eq!(
        parse_client_frame(" { \"type\" : \"ping\" }\n"),
        Ok(ClientFrame::Ping)
    );
    assert_eq!(
        parse_client_frame(r#"{"type":"ping","extra":1}"#),
        Ok(ClientFrame::Ping)
    );
}

#[test]
fn forwarded_frame_is_the_sent_object_with_from_stamped() {
    let text = r#"{"type":"offer","to":"bob","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1","x":{"n":1}}"#;
    assert_eq!(
        relay(text).to_frame(&alice()),
        r#"{"type":"offer","to":"bob","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1","x":{"n":1},"from":"alice"}"#
    );
}

#[test]
fn a_spoofed_from_is_replaced_even_when_escaped_or_repeated() {
    for text in [
        r#"{"type":"message","from":"mallory","data":1}"#,
        r#"{"type":"message","fr\u006fm":"mallory","data":1}"#,
        r#"{"from":"m1","type":"message","from":"m2","data":1}"#,
    ] {
        let out = relay(text).to_frame(&alice());
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["from"], "alice", "{text}");
        assert!(
            !out.contains("mallory") && !out.contains("m1") && !out.contains("m2"),
            "{out}"
        );
        assert_eq!(out.matches("\"from\"").count(), 1, "{out}");
    }
}

/// The forwarded text, as a runtime builds it from [`Relay::forwarding`].
fn forwarded(text: &str) -> String {
    match relay(text).forwarding(&alice()) {
        Forwarding::Splice(suffix) => splice(text, &suffix),
        Forwarding::Built(frame) => frame,
    }
}

#[test]
fn a_frame_without_from_is_forwarded_as_received_with_from_spliced_in() {
    let text = r#"{"type":"offer","to":"bob","sdp":"v=0\r\n"}"#;
    assert_eq!(
        relay(text).forwarding(&alice()),
        Forwarding::Splice(r#","from":"alice"}"#.to_owned())
    );
    // Byte for byte what the rebuilt frame would be, when the client sent no spacing.
    assert_eq!(forwarded(text), relay(text).to_frame(&alice()));
    // Spacing is the client's and stays; what follows the object does not.
    let spaced = "{ \"type\" : \"message\",\n \"data\": { \"k\": [1, 2] } }  \n";
    assert_eq!(
        forwarded(spaced),
        "{ \"type\" : \"message\",\n \"data\": { \"k\": [1, 2] } ,\"from\":\"alice\"}"
    );
    let v: serde_json::Value = serde_json::from_str(&forwarded(spaced)).unwrap();
    assert_eq!(v["from"], "alice");
    assert_eq!(v["data"]["k"][1], 2);
}

#[test]
fn a_frame_with_its_own_from_is_rebuilt_without_it() {
    for text in [
        r#"{"type":"message","from":"mallory","data":1}"#,
        r#"{"type":"message","fr\u006fm":"mallory","data":1}"#,
    ] {
        assert!(
            matches!(relay(text).forwarding(&alice()), Forwarding::Built(_)),
            "{text}"
        );
        assert!(!forwarded(text).contains("mallory"), "{text}");
    }
}

#[test]
fn splicing_replaces_the_last_closing_brace() {
    assert_eq!(splice(r#"{"a":"}"}"#, ",\"z\":1}"), r#"{"a":"}","z":1}"#);
    assert_eq!(splice("{\"a\":{}} \t", "!"), "{\"a\":{}!");
}

#[test]
fn payloads_pass_through_byte_for_byte() {
    // Numbers beyond f64, exponents, escapes and odd unicode all survive untouched.
    let data = r#"{"big":123456789012345678901234567890,"e":1E+2,"s":"\u00e9\ud83d\ude00 é","arr":[ 1 , 2 ]}"#;
    let text = format!(r#"{{"type":"message","data":{data}}}"#);
    let out = relay(&text).to_frame(&alice());
    assert_eq!(
        out,
        format!(r#"{{"type":"message","data":{data},"from":"alice"}}"#)
    );
    assert_eq!(forwarded(&text), out);
}

#[test]
fn escaped_member_names_are_re_escaped_validly() {
    let out = relay(r#"{"type":"message","data":1,"a\"b\u0041":2}"#).to_frame(&alice());
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["a\"bA"], 2);
}

#[test]
fn not_json_or_not_an_object_is_a_bad_request() {
    assert!(bad("hello").contains("not valid JSON"));
    assert!(bad("").contains("not valid JSON"));
    assert!(bad(r#"{"type":"offer""#).contains("not valid JSON"));
    assert!(bad(r#"{"type":"message","data":1} trailing"#).contains("not valid JSON"));
    for text in ["[]", "1", "\"offer\"", "null", "true"] {
        assert_eq!(bad(text), "a frame must be a JSON object", "{text}");
    }
}

#[test]
fn deeply_nested_payloads_are_relayed_without_recursion() {
    // Deeper than a 1 MiB frame can hold: payloads are skipped, not recursed into, so nesting
    // cannot overflow the stack, and the payload is opaque, so it is relayed as it came.
    let depth = 600_000;
    let data = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let text = format!(r#"{{"type":"message","data":{data}}}"#);
    let out = relay(&text).to_frame(&alice());
    assert!(out.starts_with(r#"{"type":"message","data":[[["#));
    assert!(out.ends_with(r#"]]],"from":"alice"}"#));
    assert_eq!(out.len(), text.len() + r#","from":"alice""#.len());
    // Unbalanced nesting is still caught.
    assert!(bad(&format!(
        r#"{{"type":"message","data":{}}}"#,
        "[".repeat(depth)
    ))
    .contains("not valid JSON"));
}

#[test]
fn unknown_or_missing_type_is_a_bad_request() {
    assert_eq!(bad(r#"{"to":"bob"}"#), "missing `type`");
    assert_eq!(bad(r#"{"type":5}"#), "`type` must be a string");
    assert!(bad(r#"{"type":"welcome"}"#).contains("unknown type"));
    assert!(bad(r#"{"type":"OFFER","to":"b","sdp":""}"#).contains("unknown type"));
}

#[test]
fn missing_or_wrongly_typed_required_fields_are_bad_requests() {
    assert_eq!(bad(r#"{"type":"offer","sdp":"x"}"#), "missing `to`");
    assert_eq!(bad(r#"{"type":"answer","to":"b"}"#), "missing `sdp`");
    for sdp in ["5", "null", "true", "[]", r#"{"s":"x"}"#, "-1e3"] {
        assert_eq!(
            bad(&format!(r#"{{"type":"offer","to":"b","sdp":{sdp}}}"#)),
            "`sdp` must be a string",
            "sdp {sdp}"
        );
    }
    assert_eq!(
        bad(r#"{"type":"offer","to":7,"sdp":"x"}"#),
        "`to` must be a string"
    );
    assert_eq!(
        bad(r#"{"type":"candidate","to":"b"}"#),
        "missing `candidate`"
    );
    assert_eq!(bad(r#"{"type":"message"}"#), "missing `data`");
    assert_eq!(
        bad(r#"{"type":"message","to":null,"data":1}"#),
        "`to` must be a string"
    );
}

#[test]
fn a_read_member_given_twice_is_a_bad_request() {
    assert!(bad(r#"{"type":"offer","to":"bob","to":"carol","sdp":"x"}"#).contains("more than once"));
    assert!(bad(r#"{"type":"message","type":"offer","data":1}"#).contains("more than once"));
    assert!(bad(r#"{"type":"message","data":1,"data":2}"#).contains("more than once"));
}

#[test]
fn server_messages_have_the_contract_shape() {
    let welcome = ServerMessage::Welcome {
        room: RoomId::parse("r1").unwrap(),
        peer: alice(),
        capacity: 2,
        peers: vec![PeerId::parse("bob").unwrap()],
        meta: Default::default(),
        ice_servers: crate::json::Json::parse(r#"[{"urls":"stun:s"}]"#).unwrap(),
        resume: "r3sume".into(),
        resumed: false,
    };
    assert_eq!(
        welcome.to_frame(),
        r#"{"type":"welcome","room":"r1","peer":"alice","capacity":2,"peers":["bob"],"meta":{},"ice_servers":[{"urls":"stun:s"}],"resume":"r3sume"}"#
    );
    assert_eq!(
        ServerMessage::PeerJoined {
            peer: alice(),
            meta: None
        }
        .to_frame(),
        r#"{"type":"peer_joined","peer":"alice"}"#
    );
    assert_eq!(
        ServerMessage::PeerLeft {
            peer: alice(),
            reason: LeaveReason::Leave
        }
        .to_frame(),
        r#"{"type":"peer_left","peer":"alice","reason":"leave"}"#
    );
    assert_eq!(
        ServerMessage::PeerLeft {
            peer: alice(),
            reason: LeaveReason::Disconnect
        }
        .to_frame(),
        r#"{"type":"peer_left","peer":"alice","reason":"disconnect"}"#
    );
    assert_eq!(ServerMessage::Pong.to_frame(), PONG_FRAME);
    assert_eq!(
        ServerMessage::Error {
            code: ErrorCode::BadRequest,
            message: "m".into(),
            peer: None
        }
        .to_frame(),
        r#"{"type":"error","code":"bad_request","message":"m"}"#
    );
}

#[test]
fn a_resumed_welcome_says_so() {
    let msg = ServerMessage::Welcome {
        room: RoomId::parse("r").unwrap(),
        peer: PeerId::parse("p").unwrap(),
        capacity: 3,
        peers: vec![],
        meta: Default::default(),
        ice_servers: crate::json::Json::parse("[]").unwrap(),
        resume: "s".into(),
        resumed: true,
    };
    assert_eq!(
        msg.to_frame(),
        r#"{"type":"welcome","room":"r","peer":"p","capacity":3,"peers":[],"meta":{},"ice_servers":[],"resume":"s","resumed":true}"#
    );
}

#[test]
fn error_codes_match_their_wire_names() {
    for code in [
        ErrorCode::BadRequest,
        ErrorCode::UnknownPeer,
        ErrorCode::RoomFull,
        ErrorCode::PeerIdTaken,
        ErrorCode::Unauthorized,
        ErrorCode::RateLimited,
        ErrorCode::Kicked,
    ] {
        assert_eq!(
            serde_json::to_string(&code).unwrap(),
            format!("\"{}\"", code.as_str())
        );
    }
}
