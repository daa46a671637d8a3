#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/<target>/.

Seeds are small valid (and a few deliberately invalid) inputs in each target's input shape (see
the comment at the top of each tests/fuzz/*_fuzz.cc), with protobufs written here in text format
and encoded by `protoc --encode`. Run it from anywhere after changing a .proto or an input
shape; it rewrites only the files it names (seeds named regression-* were crashes the fuzzers
found, kept as they were found, and are left alone).
"""
import os
import struct
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(REPO, "tests", "fuzz", "corpus")


def encode(message_type, text, proto):
    return subprocess.run(
        ["protoc", "--encode=dfs." + message_type, "-I", REPO, "proto/" + proto],
        input=text.encode(), stdout=subprocess.PIPE, check=True).stdout


def record(data):
    return struct.pack("<H", len(data)) + data


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def write(target, name, data):
    directory = os.path.join(CORPUS, target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


# ---- state_machine_fuzz: records of serialized Commands, applied after the base namespace
# (state_machine_fuzz.cc: inodes 2..8 and chunks 1..3 in use, ids up to 64 reserved).

BATCH_SEED = (
    'client_id: 9 seq: 1 batch { '
    'commands { rename { parent: 1 name: "f" new_parent: 2 new_name: "h" } } '
    'commands { unlink { parent: 1 name: "missing" } } '
    'commands { unlink { parent: 2 name: "h" } } '
    'commands { rmdir { parent: 2 name: "e" } } '
    'commands { rmdir { parent: 1 name: "d" } } '
    'commands { mkdir { parent: 1 name: "no" inode: 20 mode: 493 } } '
    'commands { batch { commands { unlink { parent: 1 name: "s" } } } } }')

COMMAND_SEEDS = {
    "namespace": [
        'client_id: 9 seq: 1 timestamp_ns: 50000 mkdir { parent: 2 name: "n" inode: 9 mode: 493 }',
        'client_id: 9 seq: 2 create { parent: 9 name: "x" inode: 10 mode: 420 }',
        'client_id: 9 seq: 3 rename { parent: 9 name: "x" new_parent: 1 new_name: "y" }',
        'client_id: 9 seq: 4 rmdir { parent: 2 name: "n" }',
        'client_id: 9 seq: 5 rename { parent: 1 name: "d" new_parent: 3 new_name: "z" }',
        'client_id: 9 seq: 6 rename { parent: 1 name: "y" new_parent: 2 new_name: "g" }',
    ],
    # One entry of unlinks, rmdirs and renames, each on its own (ENOENT, ENOTEMPTY and two
    # refused kinds among them), then its retry.
    "batch": [BATCH_SEED, BATCH_SEED],
    "writes": [
        'client_id: 9 seq: 1 commit_write { inode: 4 offset: 50 length: 100 '
        'extents { file_offset: 0 chunk_id: 4 chunk_offset: 0 length: 100 } '
        'new_chunks { chunk_id: 4 length: 100 crc32c: 7 replicas: "dn1" replicas: "dn2" } }',
        'client_id: 9 seq: 2 set_attr { inode: 4 set_size: true size: 20 set_mode: true mode: 384 }',
        'client_id: 9 seq: 3 commit_write { inode: 4 append: true length: 30 '
        'extents { file_offset: 10 chunk_id: 2 chunk_offset: 5 length: 20 } }',
        'client_id: 9 seq: 4 set_attr { inode: 5 set_size: true size: 1000 }',
        'client_id: 9 seq: 5 set_attr { inode: 5 set_size: true size: 60 }',
    ],
    "links": [
        'client_id: 9 seq: 1 unlink { parent: 1 name: "f" }',
        'client_id: 9 seq: 2 unlink { parent: 2 name: "f2" keep_orphan: true }',
        'client_id: 9 seq: 3 release_orphan { inode: 4 }',
        'client_id: 9 seq: 4 release_orphan { inode: 7 }',
        'client_id: 9 seq: 5 link { inode: 6 new_parent: 3 new_name: "s2" }',
        'client_id: 9 seq: 6 link { inode: 2 new_parent: 1 new_name: "dd" }',
        'client_id: 9 seq: 7 symlink { parent: 3 name: "t" inode: 11 target: "../../f" }',
    ],
    "create_content": [
        'reserve_ids { kind: KIND_CHUNK count: 10 }',
        'client_id: 9 seq: 1 create { parent: 1 name: "big" inode: 12 size: 1000 replace: true '
        'extents { file_offset: 0 chunk_id: 65 chunk_offset: 0 length: 600 } '
        'extents { file_offset: 700 chunk_id: 1 chunk_offset: 0 length: 100 } '
        'new_chunks { chunk_id: 65 length: 600 replicas: "dn1" } }',
        'client_id: 9 seq: 2 create { parent: 1 name: "f" inode: 13 replace: true }',
        'client_id: 9 seq: 2 create { parent: 1 name: "f" inode: 13 replace: true }',
    ],
    "maintenance": [
        'add_replica { chunk_id: 1 datanode_id: "dn4" }',
        'trim_replica { chunk_id: 1 datanode_id: "dn1" require: "dn2" }',
        'drop_replica { chunk_id: 2 datanode_id: "dn2" }',
        'add_replica { chunk_id: 3 datanode_id: "dn5" }',
        'purge_garbage { chunk_ids: 3 chunk_ids: 99 }',
        'set_decommission { datanode_id: "dn3" decommission: false }',
        'set_safe_mode { on: true }',
        'client_id: 9 seq: 1 mkdir { parent: 1 name: "ro" inode: 14 }',
        'set_safe_mode { on: false }',
    ],
    "merge": [
        'merge_swap { files { inode: 5 generation: 0 file_offset: 0 length: 300 '
        'extents { file_offset: 0 chunk_id: 4 chunk_offset: 0 length: 50 } '
        'extents { file_offset: 100 chunk_id: 4 chunk_offset: 50 length: 150 } } '
        'new_chunks { chunk_id: 4 length: 200 replicas: "dn1" } }',
    ],
    # Found by reading ApplyMergeSwap: file 4 moves off chunk 1 (its only user) while file 5
    # moves onto it; chunk 1 became garbage mid-command and taking a reference aborted.
    "merge_cross_file": [
        'merge_swap { files { inode: 4 generation: 0 file_offset: 0 length: 100 '
        'extents { file_offset: 0 chunk_id: 2 chunk_offset: 0 length: 100 } } '
        'files { inode: 5 generation: 0 file_offset: 0 length: 300 '
        'extents { file_offset: 0 chunk_id: 1 chunk_offset: 0 length: 100 } '
        'extents { file_offset: 100 chunk_id: 1 chunk_offset: 0 length: 100 } } }',
    ],
    "clock_jumps": [
        'timestamp_ns: 9223372036854000000 set_safe_mode { on: true }',
        'timestamp_ns: -5 set_safe_mode { on: false }',
        'client_id: 3 seq: 1 timestamp_ns: 1 set_attr { inode: 5 set_mtime: true mtime_ns: -1 }',
    ],
    # Found by reading Apply: the last timestamp + 1 overflowed (UBSan) after a command stamped
    # INT64_MAX.
    "timestamp_int64_max": [
        'timestamp_ns: 9223372036854775807 set_safe_mode { on: true }',
        'timestamp_ns: 1 set_safe_mode { on: false }',
    ],
    "bad_entries": [
        'mkdir { parent: 1 name: "../x" inode: 9 }',
        'mkdir { parent: 1 name: "" inode: 9 }',
        'create { parent: 1 name: "h" inode: 1 }',
        'commit_write { inode: 4 offset: 18446744073709551000 length: 1000 '
        'extents { file_offset: 0 chunk_id: 1 chunk_offset: 0 length: 100 } }',
        'reserve_ids { kind: KIND_INODE count: 0 }',
        '',
    ],
}

# ---- datanode_service_fuzz: a selector byte (0 read, 1 write, 2 delete, 3 replicate,
# 4 identity), then the request; the fixtures are chunks 1, 2 and 3 (3 damaged).


def fixture(chunk_id):
    size = 2 * 65536 + 1000 if chunk_id == 2 else 100 + chunk_id
    return bytes((i * 131 + chunk_id) & 0xFF for i in range(size))


def datanode_seeds():
    def req(message_type, text):
        return encode(message_type, text, "datanode.proto")

    def piece(text, data):
        message = req("WriteChunkRequest", text + ' data: "%s" data_crc32c: %d' % (
            data.decode(), crc32c(data)))
        return record(message)

    return {
        "read_small": b"\x00" + req("ReadChunkRequest", "chunk_id: 1 offset: 10 length: 50"),
        "read_large": b"\x00" + req("ReadChunkRequest", "chunk_id: 2 offset: 65000"),
        "read_damaged": b"\x00" + req("ReadChunkRequest", "chunk_id: 3"),
        "read_missing": b"\x00" + req("ReadChunkRequest", "chunk_id: 77"),
        "write": b"\x01\x00" + piece("header { chunk_id: 100 }", b"hello ")
                 + piece("", b"world"),
        "write_fix_crc": b"\x01\x01" + record(req(
            "WriteChunkRequest", 'header { chunk_id: 101 downstream: "10.0.0.1:7000" } '
            'data: "abc"')),
        "write_existing": b"\x01\x01" + record(req(
            "WriteChunkRequest", 'header { chunk_id: 1 } data: "x"')),
        "delete": b"\x02" + req("DeleteChunksRequest", "chunk_ids: 1 chunk_ids: 99"),
        "replicate_present": b"\x03" + req(
            "ReplicateChunkRequest", 'chunk_id: 1 length: 101 crc32c: %d sources: "h:1"'
            % crc32c(fixture(1))),
        "replicate_mismatch": b"\x03" + req(
            "ReplicateChunkRequest", 'chunk_id: 2 length: 5 crc32c: 1 sources: "h:1"'),
        "identity": b"\x04",
    }


# ---- master_request_fuzz: a selector byte (the request type, in master_request_fuzz.cc's
# order), then the request.

MASTER_REQUESTS = [
    (0, "LookupRequest", 'parent: 1 name: "a"'),
    (1, "LookupPathRequest", 'path: "/a/b/c"'),
    (3, "ReadDirRequest", 'inode: 1 start_after: "m" limit: 10'),
    (5, "CreateRequest", 'session { client_id: 1 seq: 2 } parent: 1 name: "f" size: 100 '
     'extents { file_offset: 0 chunk_id: 5 chunk_offset: 0 length: 100 } '
     'new_chunks { chunk_id: 5 length: 100 replicas: "dn1" }'),
    (6, "SymlinkRequest", 'parent: 1 name: "l" target: "../x"'),
    (9, "RenameRequest", 'parent: 1 name: "a" new_parent: 2 new_name: "b"'),
    (11, "SetAttrRequest", "inode: 4 size: 1000 mode: 420"),
    (12, "AllocateChunkRequest", 'size_hint: 1048576 exclude_datanodes: "dn2"'),
    (13, "CommitWriteRequest", "inode: 4 offset: 1152921504606846000 length: 1000"),
    (14, "GetExtentsRequest", "inode: 4 offset: 10 length: 18446744073709551615"),
    (15, "ReportBadReplicaRequest", 'chunk_id: 5 datanode_id: "dn1" reason: "crc"'),
    (16, "HeartbeatRequest", 'node { id: "dn1" address: "127.0.0.1:5000" rack: "r1" } '
     "has_chunk_report: true chunk_ids: 1 chunk_ids: 2"),
    (17, "RaftMemberRequest", 'address: "[::1]:7000"'),
    (21, "BalanceRequest", "threshold: 0.1"),
    (22, "SafeModeRequest", "action: ENTER"),
    (23, "CheckFilesRequest", "inodes: 4 inodes: 5 all_chunks: true"),
    (24, "BatchRequest", 'session { client_id: 1 seq: 3 } ops { unlink { parent: 1 name: "a" } } '
     'ops { rmdir { parent: 1 name: "d" } } '
     'ops { rename { parent: 1 name: "b" new_parent: 2 new_name: "c" } } '
     'ops { mkdir { parent: 1 name: "m" inode: 100 mode: 493 } } '
     'ops { create { parent: 1 name: "f" inode: 101 mode: 420 exclusive: true } }'),
    (25, "ReserveInodesRequest", "count: 1024"),
]

# ---- chunk_reader_fuzz: mode, range count, ranges (3-byte offset, 3-byte length), then a raw
# chunk file (mode 0) or a data length, pattern and edits (modes 1 and 2).

FUZZ_CHUNK = 0x00c0ffee0000012a


def chunk_file(data, chunk_id=FUZZ_CHUNK):
    blocks = [data[i:i + 65536] for i in range(0, len(data), 65536)]
    crcs = b"".join(struct.pack("<I", crc32c(b)) for b in blocks)
    footer = struct.pack("<QIIQQI", 0x314b4e4843534644, 1, len(blocks), chunk_id, len(data),
                         crc32c(data))
    return data + crcs + footer + struct.pack("<I", crc32c(crcs + footer))


def ranges(*pairs):
    out = bytes([len(pairs)])
    for offset, length in pairs:
        out += struct.pack("<I", offset)[:3] + struct.pack("<I", length)[:3]
    return out


def built(mode, length, edits):
    out = bytes([mode]) + ranges((0, 100), (65530, 20), (5, 0)) + struct.pack("<I", length)[:3]
    out += struct.pack("<Q", 0x9E3779B97F4A7C15) + bytes([len(edits)])
    for kind, where, value in edits:
        out += bytes([kind]) + struct.pack("<I", where) + struct.pack("<Q", value)
    return out


def main():
    for name, texts in COMMAND_SEEDS.items():
        data = b"".join(record(encode("Command", t, "command.proto")) for t in texts)
        if name == "bad_entries":
            data += record(b"\xff\xff\xff\x07garbage")
        write("state_machine_fuzz", name, data)
    for name, data in datanode_seeds().items():
        write("datanode_service_fuzz", name, data)
    for kind, message_type, text in MASTER_REQUESTS:
        write("master_request_fuzz", message_type, bytes([kind]) +
              encode(message_type, text, "master.proto"))
    small = bytes(range(200))
    write("chunk_reader_fuzz", "raw_valid", b"\x00" + ranges((0, 50), (150, 100)) +
          chunk_file(small))
    write("chunk_reader_fuzz", "raw_empty_chunk", b"\x00" + ranges((0, 1)) + chunk_file(b""))
    write("chunk_reader_fuzz", "raw_short", b"\x00" + ranges((0, 1)) + b"DFSCHNK1")
    write("chunk_reader_fuzz", "built_intact", built(1, 2 * 65536 + 5, []))
    write("chunk_reader_fuzz", "built_flip", built(1, 70000, [(0, 65540, 0x10)]))
    write("chunk_reader_fuzz", "built_footer_length", built(1, 1000, [(3, 4, 900)]))
    write("chunk_reader_fuzz", "built_block_crc", built(2, 140000, [(4, 1, 0xdeadbeef)]))
    write("chunk_reader_fuzz", "built_truncate", built(2, 5000, [(1, 4000, 0)]))


if __name__ == "__main__":
    main()
