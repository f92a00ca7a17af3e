import RepriseCore

/// Special tokens get ids after the merges and are never produced from ordinary text: encoding ordinary
/// text treats `<|endoftext|>` as the 13 bytes it is, only `encode(..., allowedSpecial:)` and the packer
/// insert the ids.
public enum SpecialTokens {
    /// Separates documents in packed token streams (the name HF and tiktoken users expect).
    public static let endOfText = "<|endoftext|>"
    /// Fills the tail of a sequence that has no more data; never trained on.
    public static let pad = "<|pad|>"
    /// Replaces masked positions for the masked-diffusion objective; its logit is excluded from predictions.
    public static let mask = "<|mask|>"

    public static let defaults = [endOfText, pad, mask]
}
