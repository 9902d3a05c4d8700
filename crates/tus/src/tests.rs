//! Table-driven checks of every header and state rule, success and failure alike.

use super::*;

fn headers<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> + 'a {
    move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
}

const V: (&str, &str) = ("tus-resumable", "1.0.0");

#[test]
fn creations_parse_or_are_refused_with_their_status() {
    let ok = |pairs: &[(&str, &str)]| parse_creation(headers(pairs), 1000).unwrap();
    let err = |pairs: &[(&str, &str)]| parse_creation(headers(pairs), 1000).unwrap_err();
    assert_eq!(ok(&[V, ("upload-length", "100")]).length, Some(Length::Known(100)));
    assert_eq!(ok(&[V, ("upload-length", "0")]).length, Some(Length::Known(0)));
    assert_eq!(ok(&[V, ("upload-defer-length", "1")]).length, Some(Length::Deferred));
    let c = ok(&[V, ("upload-concat", "final;/tus/a /tus/b"), ("upload-metadata", "")]);
    assert_eq!((c.length, c.concat), (None, Concat::Final(vec!["/tus/a".into(), "/tus/b".into()])));
    assert_eq!(ok(&[V, ("upload-length", "5"), ("upload-concat", "partial")]).concat, Concat::Partial);
    let m = ok(&[V, ("upload-length", "1"), ("upload-metadata", "filename ZHVtcC5zcWw=,is_confidential")]).metadata;
    assert_eq!(m, vec![("filename".to_owned(), b"dump.sql".to_vec()), ("is_confidential".to_owned(), vec![])]);
    for (pairs, status) in [
        (&[("upload-length", "1")][..], 412),
        (&[("tus-resumable", "0.2.2"), ("upload-length", "1")][..], 412),
        (&[V][..], 400),
        (&[V, ("upload-length", "-1")][..], 400),
        (&[V, ("upload-length", "+1")][..], 400),
        (&[V, ("upload-length", " 1")][..], 400),
        (&[V, ("upload-length", "1e3")][..], 400),
        (&[V, ("upload-length", "99999999999999999999")][..], 400),
        (&[V, ("upload-length", "1001")][..], 413),
        (&[V, ("upload-length", "1"), ("upload-defer-length", "1")][..], 400),
        (&[V, ("upload-defer-length", "0")][..], 400),
        (&[V, ("upload-concat", "final;")][..], 400),
        (&[V, ("upload-concat", "final;/a"), ("upload-length", "3")][..], 400),
        (&[V, ("upload-concat", "whole")][..], 400),
        (&[V, ("upload-length", "1"), ("upload-metadata", "a !!!")][..], 400),
        (&[V, ("upload-length", "1"), ("upload-metadata", "a YQ==,a Yg==")][..], 400),
        (&[V, ("upload-length", "1"), ("upload-metadata", "k\u{e9}y YQ==")][..], 400),
        (&[V, ("upload-length", "1"), ("upload-metadata", ",")][..], 400),
    ] {
        assert_eq!(err(pairs).status(), status, "{pairs:?}");
    }
}

#[test]
fn patches_parse_or_are_refused_with_their_status() {
    let ct = ("content-type", OFFSET_OCTET_STREAM);
    let p = parse_patch(headers(&[V, ct, ("upload-offset", "42")])).unwrap();
    assert_eq!((p.offset, p.length, p.checksum), (42, None, None));
    let sha1 = "sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0="; // SHA-1 of "hello world"
    let p = parse_patch(headers(&[V, ct, ("upload-offset", "0"), ("upload-checksum", sha1), ("upload-length", "11")]))
        .unwrap();
    let c = p.checksum.unwrap();
    assert_eq!((c.algorithm, p.length), (Algorithm::Sha1, Some(11)));
    assert!(c.matches(&[
        0x2a, 0xae, 0x6c, 0x35, 0xc9, 0x4f, 0xcf, 0xb4, 0x15, 0xdb, 0xe9, 0x5f, 0x40, 0x8b, 0x9c, 0xe9, 0x1e, 0xe8,
        0x46, 0xed
    ]));
    assert!(!c.matches(&[0; 20]) && !c.matches(&[0; 19]));
    let with_charset = ("content-type", "application/offset+octet-stream; charset=binary");
    assert!(parse_patch(headers(&[V, with_charset, ("upload-offset", "0")])).is_ok());
    for (pairs, status) in [
        (&[ct, ("upload-offset", "0")][..], 412),
        (&[V, ("upload-offset", "0")][..], 415),
        (&[V, ("content-type", "application/octet-stream"), ("upload-offset", "0")][..], 415),
        (&[V, ct][..], 400),
        (&[V, ct, ("upload-offset", "x")][..], 400),
        (&[V, ct, ("upload-offset", "0"), ("upload-checksum", "md5 AAAA")][..], 400),
        (&[V, ct, ("upload-offset", "0"), ("upload-checksum", "sha1")][..], 400),
        (&[V, ct, ("upload-offset", "0"), ("upload-checksum", "sha1 AAAA")][..], 400),
        (&[V, ct, ("upload-offset", "0"), ("upload-checksum", "sha256 ***")][..], 400),
    ] {
        assert_eq!(parse_patch(headers(pairs)).unwrap_err().status(), status, "{pairs:?}");
    }
}

#[test]
fn an_upload_moves_only_forward_from_its_offset_to_its_length() {
    let creation = |length| Creation { length: Some(length), metadata: vec![], concat: Concat::None };
    let patch = |offset, length| Patch { offset, length, checksum: None };
    let mut u = Upload::new(&creation(Length::Known(10)), 100);
    assert_eq!(u.check_patch(&patch(0, None)), Ok(10));
    u.advance(4).unwrap();
    assert_eq!(u.check_patch(&patch(0, None)).unwrap_err(), Error::Offset { expected: 4, given: 0 });
    assert_eq!(u.check_patch(&patch(5, None)).unwrap_err().status(), 409);
    assert_eq!(u.check_patch(&patch(4, Some(11))).unwrap_err().status(), 403, "a known length cannot change");
    assert_eq!(u.check_patch(&patch(4, None)), Ok(6));
    assert_eq!(u.advance(7).unwrap_err().status(), 413, "past the end");
    u.advance(6).unwrap();
    assert!(u.complete());
    assert_eq!(u.check_patch(&patch(10, None)).unwrap_err().status(), 403);

    // Deferred: the length comes with a later PATCH, within the maximum, not below the offset.
    let mut d = Upload::new(&creation(Length::Deferred), 100);
    assert_eq!(d.check_patch(&patch(0, None)), Ok(100));
    d.advance(30).unwrap();
    assert_eq!(d.check_patch(&patch(30, Some(101))).unwrap_err().status(), 413);
    assert_eq!(d.check_patch(&patch(30, Some(29))).unwrap_err().status(), 400);
    assert_eq!(d.check_patch(&patch(30, Some(50))), Ok(20));
    assert_eq!(d.length, Some(50));
    assert_eq!(d.advance(21).unwrap_err().status(), 413);

    // A final concatenation takes no PATCH.
    let mut f =
        Upload::new(&Creation { length: None, metadata: vec![], concat: Concat::Final(vec!["/a".into()]) }, 100);
    assert_eq!(f.check_patch(&patch(0, None)).unwrap_err().status(), 403);
}

#[test]
fn every_error_has_a_status_and_a_message_a_client_can_act_on() {
    for e in [
        Error::Version,
        Error::BadHeader { name: "Upload-Offset", why: "missing" },
        Error::MediaType,
        Error::Offset { expected: 3, given: 0 },
        Error::TooLarge("too large".into()),
        Error::ChecksumAlgorithm("md5".into()),
        Error::ChecksumMismatch,
        Error::Forbidden("no"),
    ] {
        assert!((400..500).contains(&e.status()), "{e:?}");
        assert!(!e.to_string().is_empty());
    }
    assert_eq!(Error::ChecksumMismatch.status(), 460);
}

#[test]
fn a_deferred_upload_ends_with_an_empty_patch_declaring_its_length() {
    let mut u = Upload { offset: 10, length: None, final_concat: false, max_size: 100 };
    let p = Patch { offset: 10, length: Some(10), checksum: None };
    assert_eq!(u.check_patch(&p), Ok(0));
    assert!(u.complete());
    // Once known, a complete upload takes no more PATCH.
    assert!(matches!(u.check_patch(&p), Err(Error::Forbidden(_))));
}
