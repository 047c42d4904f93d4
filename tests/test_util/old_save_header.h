// The save header of proto/vectors' save_minimal_canonical as encoders wrote it before defaults
// were omitted (PROTOCOL.md "Canonical form"): all 25 keys, `de 00 19` first.  Old clients
// still send it and journals written then hold it, so the codec test and the journal's replay
// test both decode it; it is frozen here, not regenerated, because it is history.
#pragma once

namespace imgsink::testutil {

inline constexpr char kEveryKeySaveHeaderHex[] =
    "de0019a17601a46b696e64a473617665a2696401a56474797065a7666c6f61743332a57368617065940403"
    "2020a66c61796f7574a44e434857a470617468b773616d706c65732f737465705f3030303130302e706e67"
    "a6666f726d6174c0a46d6f6465a467726964a46e726f7708a770616464696e6702a97061645f76616c7565"
    "cb0000000000000000a96e6f726d616c697a65c2ab76616c75655f72616e6765c0aa7363616c655f656163"
    "68c2a96b6565705f67726179c2a9706e675f6c6576656c01a8706e675f6269747308aa706e675f66696c74"
    "6572a57061657468ac706e675f7374726174656779a3726c65ac6a7065675f7175616c6974794bb06a7065"
    "675f73756273616d706c696e67a3343230a6706f6c696379a5626c6f636bb0626c6f636b5f74696d656f75"
    "745f6d73cd7530a46d65746180";

}  // namespace imgsink::testutil
