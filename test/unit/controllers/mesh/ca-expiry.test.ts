import assert from "node:assert/strict";
import { caExpiryCondition, caExpiryFlipInMs } from "../../../../src/controllers/mesh/ca-expiry.js";

const DAY = 24 * 3600_000;
const now = new Date("2026-11-25T12:00:00Z");
const notAfterIn = (ms: number) => new Date(now.getTime() + ms).toISOString().replace(/\.\d+Z$/, "Z");
const decided = (notAfter: string | undefined) => {
  const c = caExpiryCondition(notAfter, now);
  return `${c.type}=${c.status}/${c.reason}`;
};

describe("the CA's expiry warning (CertificateAuthorityNotExpiringSoon)", () => {
  it("holds at 31 days left, warns from 30, and says Expired at 0", () => {
    assert.equal(decided(notAfterIn(31 * DAY)), "CertificateAuthorityNotExpiringSoon=True/NotExpiringSoon");
    assert.equal(
      decided(notAfterIn(30 * DAY + 1000)),
      "CertificateAuthorityNotExpiringSoon=True/NotExpiringSoon",
    );
    assert.equal(decided(notAfterIn(30 * DAY)), "CertificateAuthorityNotExpiringSoon=False/ExpiringSoon");
    assert.equal(decided(notAfterIn(1000)), "CertificateAuthorityNotExpiringSoon=False/ExpiringSoon");
    assert.equal(decided(notAfterIn(0)), "CertificateAuthorityNotExpiringSoon=False/Expired");
    assert.equal(decided(notAfterIn(-DAY)), "CertificateAuthorityNotExpiringSoon=False/Expired");
  });

  it("names the date and the days left, and is Unknown with no CA on record", () => {
    assert.equal(
      caExpiryCondition(notAfterIn(12 * DAY + 3600_000), now).message,
      "the certificate authority expires at 2026-12-07T13:00:00Z, in 12 days: rotate it before then",
    );
    assert.equal(decided(undefined), "CertificateAuthorityNotExpiringSoon=Unknown/NoCertificateAuthority");
    assert.equal(decided("not a date"), "CertificateAuthorityNotExpiringSoon=Unknown/NoCertificateAuthority");
  });

  it("asks to be looked at again exactly when it flips: 30 days before notAfter, then at notAfter", () => {
    assert.equal(caExpiryFlipInMs(notAfterIn(31 * DAY), now), DAY);
    assert.equal(caExpiryFlipInMs(notAfterIn(30 * DAY), now), 30 * DAY, "warning already: next, expiry");
    assert.equal(caExpiryFlipInMs(notAfterIn(5 * DAY), now), 5 * DAY);
    assert.equal(caExpiryFlipInMs(notAfterIn(0), now), undefined, "expired: nothing more to flip");
    assert.equal(caExpiryFlipInMs(undefined, now), undefined);
    // The flip it predicts is the one the decision makes.
    const flip = caExpiryFlipInMs(notAfterIn(31 * DAY), now)!;
    const at = new Date(now.getTime() + flip);
    assert.equal(
      caExpiryCondition(notAfterIn(31 * DAY), new Date(at.getTime() - 1)).reason,
      "NotExpiringSoon",
    );
    assert.equal(caExpiryCondition(notAfterIn(31 * DAY), at).reason, "ExpiringSoon");
  });
});
