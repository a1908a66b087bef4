// MSBuild inline task: set VER_FLG_WEAK on one symbol-version requirement of an ELF64 shared library.
// Layouts: Elf64_Ehdr, Elf64_Shdr, Elf64_Verneed, Elf64_Vernaux (System V gABI, GNU symbol versioning).
using System;
using System.IO;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public class MarkGlibcxxVersionWeak : Task
{
    [Required] public ITaskItem[] Files { get; set; }
    [Required] public string VersionName { get; set; }

    const uint ShtGnuVerneed = 0x6ffffffe;
    const ushort VerFlgWeak = 0x2;

    public override bool Execute()
    {
        foreach (var item in Files)
        {
            string path = item.GetMetadata("FullPath");
            try
            {
                string result = Patch(path);
                Log.LogMessage(MessageImportance.Normal, "libLibTorchSharp fix: " + path + ": " + result);
            }
            catch (InvalidDataException e)
            {
                Log.LogError("libLibTorchSharp fix: " + path + " is not in the expected form (" + e.Message +
                             "); TorchSharp may fail to load on Debian 12. See shared/docs/environment.md.");
            }
        }
        return !Log.HasLoggedErrors;
    }

    string Patch(string path)
    {
        byte[] elf = File.ReadAllBytes(path);
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidDataException("no ELF magic");
        if (elf[4] != 2 || elf[5] != 1)
            throw new InvalidDataException("not a little-endian ELF64 file");

        long shoff = (long)BitConverter.ToUInt64(elf, 0x28);
        int shentsize = BitConverter.ToUInt16(elf, 0x3A);
        int shnum = BitConverter.ToUInt16(elf, 0x3C);
        if (shentsize != 64 || shoff <= 0 || shoff + (long)shnum * 64 > elf.Length)
            throw new InvalidDataException("section header table out of bounds");

        for (int s = 0; s < shnum; s++)
        {
            long sh = shoff + (long)s * 64;
            if (BitConverter.ToUInt32(elf, (int)sh + 4) != ShtGnuVerneed) continue;

            long offset = (long)BitConverter.ToUInt64(elf, (int)sh + 0x18);
            int link = (int)BitConverter.ToUInt32(elf, (int)sh + 0x28);
            int count = (int)BitConverter.ToUInt32(elf, (int)sh + 0x2C);
            if (link >= shnum) throw new InvalidDataException(".gnu.version_r sh_link out of range");
            long strtab = (long)BitConverter.ToUInt64(elf, (int)(shoff + (long)link * 64) + 0x18);

            for (int n = 0; n < count; n++)
            {
                int auxCount = BitConverter.ToUInt16(elf, (int)offset + 2);
                long aux = offset + BitConverter.ToUInt32(elf, (int)offset + 8);
                for (int a = 0; a < auxCount; a++)
                {
                    int flagsAt = (int)aux + 4;
                    string name = ReadCString(elf, strtab + BitConverter.ToUInt32(elf, (int)aux + 8));
                    if (name == VersionName)
                    {
                        ushort flags = BitConverter.ToUInt16(elf, flagsAt);
                        if ((flags & VerFlgWeak) != 0) return VersionName + " already weak, nothing to do";
                        BitConverter.GetBytes((ushort)(flags | VerFlgWeak)).CopyTo(elf, flagsAt);
                        // Keep the timestamp: MSBuild's incremental copy compares size and time, so an
                        // unchanged stamp stops the next build from copying the unpatched file back.
                        DateTime stamp = File.GetLastWriteTimeUtc(path);
                        string tmp = path + ".patching";
                        File.WriteAllBytes(tmp, elf);
                        File.Copy(tmp, path, true);
                        File.Delete(tmp);
                        File.SetLastWriteTimeUtc(path, stamp);
                        return "marked " + VersionName + " weak";
                    }
                    aux += BitConverter.ToUInt32(elf, (int)aux + 12);
                }
                uint next = BitConverter.ToUInt32(elf, (int)offset + 12);
                if (next == 0) break;
                offset += next;
            }
            return "no requirement on " + VersionName + ", nothing to do";
        }
        throw new InvalidDataException("no .gnu.version_r section");
    }

    static string ReadCString(byte[] bytes, long at)
    {
        if (at < 0 || at >= bytes.Length) throw new InvalidDataException("string table offset out of range");
        int end = (int)at;
        while (end < bytes.Length && bytes[end] != 0) end++;
        return Encoding.ASCII.GetString(bytes, (int)at, end - (int)at);
    }
}
