# cmake -DSPV=in.spv -DOUT=out.c -DNAME=name -P EmbedShader.cmake
# Writes `const lsvk_shader lsvk_shader_<NAME>` holding the SPIR-V words.
file(READ ${SPV} hex HEX)
string(LENGTH "${hex}" nhex)
math(EXPR rem "${nhex} % 8")
if(nhex EQUAL 0 OR NOT rem EQUAL 0)
  message(FATAL_ERROR "${SPV}: not a whole number of 32-bit words")
endif()
# SPIR-V is little-endian words: bytes b0 b1 b2 b3 -> 0xb3b2b1b0.
string(REGEX REPLACE "(..)(..)(..)(..)" "0x\\4\\3\\2\\1u," words "${hex}")
string(REGEX REPLACE "((0x[0-9a-f]+u,){8})" "\\1\n    " words "${words}")
file(WRITE ${OUT}.tmp "/* Generated from ${NAME}.comp; do not edit. */
#include \"core/internal.h\"
static const uint32_t code[] = {
    ${words}
};
const lsvk_shader lsvk_shader_${NAME} = {\"${NAME}\", code, sizeof code};
")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
