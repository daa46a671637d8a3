#include "common/crc32c.h"

#include <string>

#include "gtest/gtest.h"

namespace dfs {
namespace {

// Vectors from RFC 3720 (iSCSI), appendix B.4, and the common "123456789" check value.
TEST(Crc32c, KnownVectors) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  std::string ascending, descending;
  for (int i = 0; i < 32; ++i) {
    ascending.push_back(static_cast<char>(i));
    descending.push_back(static_cast<char>(31 - i));
  }
  EXPECT_EQ(Crc32c(ascending), 0x46DD794Eu);
  EXPECT_EQ(Crc32c(descending), 0x113FDB5Cu);
  EXPECT_EQ(Crc32c(""), 0u);
}

TEST(Crc32c, ExtendEqualsWhole) {
  std::string data;
  for (int i = 0; i < 1000; ++i) data.push_back(static_cast<char>(i * 7 + 3));
  for (size_t split : {0u, 1u, 7u, 8u, 9u, 500u, 999u, 1000u}) {
    uint32_t partial = Crc32c(data.data(), split);
    EXPECT_EQ(Crc32cExtend(partial, data.data() + split, data.size() - split), Crc32c(data))
        << "split " << split;
  }
}

// Against the bit-at-a-time definition, for every length up to 300 from unaligned starts (the
// vectorized kernels have separate paths for short tails and misaligned heads).
TEST(Crc32c, MatchesTheDefinitionAtEveryLengthAndAlignment) {
  auto reference = [](const unsigned char* p, size_t n) {
    uint32_t crc = 0xFFFFFFFFu;
    while (n--) {
      crc ^= *p++;
      for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1)));
    }
    return ~crc;
  };
  std::string data;
  for (int i = 0; i < 320; ++i) data.push_back(static_cast<char>(i * 131 + 17));
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  for (size_t start = 0; start < 16; start += 5) {
    for (size_t n = 0; n + start <= 300; ++n) {
      ASSERT_EQ(Crc32c(bytes + start, n), reference(bytes + start, n)) << start << "+" << n;
    }
  }
}

}  // namespace
}  // namespace dfs
