// Fuzzes the datanode's request handlers: the input picks an RPC and supplies its request
// protos, which go to the real DatanodeServiceImpl over an in-process gRPC channel (no sockets)
// backed by a ChunkStore in a scratch directory. The store holds three fixture chunks (one small,
// one spanning several CRC blocks, one whose data is damaged on disk) and is put back to exactly
// those after every input, so each input runs against the same state.
//
// Checked: no crash, leak or sanitizer report; every piece ReadChunk sends matches its CRC and
// an undamaged fixture reads back exactly; a WriteChunk that succeeds stored exactly the bytes
// sent; no file ever appears outside the store's own layout (chunks/<xx>/<id>.chunk,
// log/<seq>.seg, tmp/, corrupt/, DATANODE_ID, LOCK).
//
// Requests that would make the node dial a peer are cut off from the network: downstream
// addresses of a write are dropped, and a copy's sources become 127.0.0.1:1, where nothing
// listens (their validation is fuzzed on the original request first).
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "common/crc32c.h"
#include "common/file_util.h"
#include "common/rpc.h"
#include "datanode/chunk_store.h"
#include "datanode/datanode_service.h"
#include "datanode/request_validation.h"
#include "grpcpp/grpcpp.h"
#include "proto/datanode.grpc.pb.h"
#include "tests/fuzz/fuzz_util.h"

namespace dfs {
namespace {

// The fixture chunks' ids.
enum Fixture : uint64_t { kSmall = 1, kLarge = 2, kDamaged = 3 };
constexpr int64_t kCallTimeoutMs = 5000;

void Fail(const std::string& what) {
  std::fprintf(stderr, "datanode_service_fuzz: %s\n", what.c_str());
  std::abort();
}

std::string FixtureData(uint64_t id) {
  std::string data(id == kLarge ? 2 * ChunkStore::kBlockBytes + 1000 : 100 + id, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 131 + id);
  return data;
}

struct Node {
  std::string dir;
  std::unique_ptr<ChunkStore> store;
  std::unique_ptr<DatanodeServiceImpl> service;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<DatanodeService::Stub> stub;

  Node() : dir(fuzz::ScratchDir() + "/datanode") {
    auto opened = ChunkStore::Open(dir, 1);
    if (!opened.ok()) Fail(opened.status().ToString());
    store = *std::move(opened);
    service = std::make_unique<DatanodeServiceImpl>(store.get(), "rack-a");
    grpc::ServerBuilder builder;
    builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
    builder.SetMaxSendMessageSize(kMaxMessageBytes);
    builder.RegisterService(service.get());
    server = builder.BuildAndStart();
    if (!server) Fail("cannot start the in-process server");
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(kMaxMessageBytes);
    args.SetMaxSendMessageSize(kMaxMessageBytes);
    stub = DatanodeService::NewStub(server->InProcessChannel(args));
    Reset();
  }

  // Back to exactly the fixtures.
  void Reset() {
    for (uint64_t id : store->List()) {
      if (id != kSmall && id != kLarge && id != kDamaged) store->Delete(id).IgnoreError();
    }
    for (uint64_t id : {kSmall, kLarge, kDamaged}) {
      if (store->Contains(id)) continue;
      auto writer = store->OpenWriter(id);
      if (!writer.ok() || !(*writer)->Append(FixtureData(id)).ok() || !(*writer)->Commit().ok()) {
        Fail("cannot write a fixture chunk");
      }
      if (id == kDamaged) {  // a flipped data byte: the trailer still verifies, reads do not
        auto bytes = ReadFile(store->ChunkPath(id));
        if (!bytes.ok()) Fail(bytes.status().ToString());
        (*bytes)[10] ^= 0x55;
        if (!WriteFileAtomic(store->ChunkPath(id), *bytes).ok()) Fail("cannot damage a fixture");
      }
    }
    CheckLayout();
  }

  // Every file is one the store's layout names; nothing else appeared anywhere.
  void CheckLayout() {
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
      const std::string relative = std::filesystem::relative(entry.path(), dir).string();
      static const std::regex kSegment("log/[0-9a-f]{16}\\.seg");
      const bool known = relative == "chunks" || relative == "tmp" || relative == "corrupt" ||
                         relative == "log" || relative == "DATANODE_ID" || relative == "LOCK" ||
                         relative.rfind("chunks/", 0) == 0 || relative.rfind("tmp/", 0) == 0 ||
                         std::regex_match(relative, kSegment);
      if (!known) Fail("unexpected file " + relative);
      if (relative.rfind("chunks/", 0) == 0 && entry.is_regular_file()) {
        bool named = false;
        for (uint64_t id : store->List()) named |= store->ChunkPath(id) == entry.path().string();
        if (!named) Fail("chunk file no chunk id names: " + relative);
      }
    }
  }
};

Node& GetNode() {
  static Node* node = new Node();
  return *node;
}

template <typename Message>
bool Parse(std::string_view bytes, Message* message) {
  return message->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
}

void FuzzRead(Node& node, fuzz::Input& input) {
  ReadChunkRequest request;
  if (!Parse(input.Rest(), &request)) return;
  grpc::ClientContext context;
  SetTimeout(&context, kCallTimeoutMs);
  auto reader = node.stub->ReadChunk(&context, request);
  std::string got;
  ReadChunkResponse piece;
  while (reader->Read(&piece)) {
    if (Crc32c(piece.data()) != piece.data_crc32c()) Fail("a read piece fails its CRC");
    got += piece.data();
  }
  grpc::Status status = reader->Finish();
  if (!status.ok()) return;
  const uint64_t id = request.chunk_id();
  if (id != kSmall && id != kLarge) Fail("read of a missing or damaged chunk succeeded");
  const std::string data = FixtureData(id);
  const std::string want = request.length() == 0 ? data.substr(request.offset())
                                                 : data.substr(request.offset(), request.length());
  if (got != want) Fail("a fixture read back different bytes");
}

void FuzzWrite(Node& node, fuzz::Input& input) {
  const uint8_t flags = input.Byte();
  std::vector<WriteChunkRequest> messages;
  std::string_view record;
  while (messages.size() < 16 && input.Record(&record)) {
    WriteChunkRequest message;
    if (!Parse(record, &message)) return;
    if (flags & 1) message.set_data_crc32c(Crc32c(message.data()));  // get past the CRC check
    messages.push_back(std::move(message));
  }
  if (!messages.empty()) {
    ValidateWriteHeader(messages[0]).IgnoreError();
    if (messages[0].has_header()) messages[0].mutable_header()->clear_downstream();
  }
  grpc::ClientContext context;
  SetTimeout(&context, kCallTimeoutMs);
  WriteChunkResponse response;
  auto writer = node.stub->WriteChunk(&context, &response);
  std::string sent;
  for (const WriteChunkRequest& message : messages) {
    if (!writer->Write(message)) break;
    sent += message.data();
  }
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  if (!status.ok()) return;
  if (messages.empty() || !messages[0].has_header()) Fail("a write without a header succeeded");
  const uint64_t id = messages[0].header().chunk_id();
  if (response.length() != sent.size() || response.crc32c() != Crc32c(sent)) {
    Fail("a write acknowledged other bytes than were sent");
  }
  auto stored = node.store->Read(id, 0, sent.size());
  if (!stored.ok() || *stored != sent) Fail("a written chunk reads back different bytes");
}

void FuzzDelete(Node& node, fuzz::Input& input) {
  DeleteChunksRequest request;
  if (!Parse(input.Rest(), &request)) return;
  grpc::ClientContext context;
  SetTimeout(&context, kCallTimeoutMs);
  DeleteChunksResponse response;
  grpc::Status status = node.stub->DeleteChunks(&context, request, &response);
  if (status.ok() && response.deleted() > static_cast<uint32_t>(request.chunk_ids_size())) {
    Fail("deleted more chunks than named");
  }
}

void FuzzReplicate(Node& node, fuzz::Input& input) {
  ReplicateChunkRequest request;
  if (!Parse(input.Rest(), &request)) return;
  ValidateRequest(request).IgnoreError();
  if (request.sources_size() > 0) {
    request.clear_sources();
    request.add_sources("127.0.0.1:1");
  }
  request.set_max_bytes_per_sec(0);  // pacing only sleeps
  grpc::ClientContext context;
  SetTimeout(&context, kCallTimeoutMs);
  ReplicateChunkResponse response;
  grpc::Status status = node.stub->ReplicateChunk(&context, request, &response);
  if (status.ok() && !response.already_present()) Fail("copied from a source that is not there");
}

void FuzzIdentity(Node& node) {
  grpc::ClientContext context;
  SetTimeout(&context, kCallTimeoutMs);
  DatanodeIdentity identity;
  if (!node.stub->Identity(&context, DatanodeEmpty(), &identity).ok()) Fail("Identity failed");
}

}  // namespace
}  // namespace dfs

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dfs::Node& node = dfs::GetNode();
  dfs::fuzz::Input input(data, size);
  switch (input.Byte() % 5) {
    case 0: dfs::FuzzRead(node, input); break;
    case 1: dfs::FuzzWrite(node, input); break;
    case 2: dfs::FuzzDelete(node, input); break;
    case 3: dfs::FuzzReplicate(node, input); break;
    case 4: dfs::FuzzIdentity(node); break;
  }
  node.Reset();
  return 0;
}
