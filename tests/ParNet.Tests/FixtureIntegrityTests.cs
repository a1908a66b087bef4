using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace ParNet.Tests;

/// <summary>The tracked copies of the authors' fixtures are the bytes listed in tests/fixtures/README.md (never regenerated).</summary>
public class FixtureIntegrityTests
{
    [Fact]
    public void Every_fixture_matches_the_hash_recorded_when_it_was_copied()
    {
        var recorded = Regex.Matches(File.ReadAllText(Fixtures.Path("README.md")), @"^([0-9a-f]{64})  (\S+)$", RegexOptions.Multiline)
            .ToDictionary(m => m.Groups[2].Value, m => m.Groups[1].Value);
        var present = Directory.GetFiles(Fixtures.Directory).Select(Path.GetFileName).Where(n => n != "README.md").ToList();
        Assert.Equal(present.OrderBy(n => n), recorded.Keys.OrderBy(n => n));
        foreach (var (name, hash) in recorded)
            Assert.Equal(hash, Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Fixtures.Path(name)))));
    }
}
