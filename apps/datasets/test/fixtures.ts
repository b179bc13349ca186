/** A small folder of German administrative-law documents, written by the tests themselves. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const FOLDER_DOCS: Record<string, string> = {
  'photovoltaik-dach.md': `# Photovoltaik auf Dachflächen

Die Errichtung einer Photovoltaikanlage auf dem Dach eines Wohngebäudes ist nach den Bauordnungen der meisten Länder verfahrensfrei.
Eine Baugenehmigung ist in der Regel nicht erforderlich, wenn die Module parallel zur Dachfläche montiert werden.

Steht das Gebäude unter Denkmalschutz, bedarf die Dachanlage jedoch einer denkmalrechtlichen Erlaubnis. Die Behörde wägt dabei das
öffentliche Interesse am Klimaschutz gegen die Belange des Denkmalschutzes ab.`,
  'aussenbereich.md': `# Bauen im Außenbereich

Vorhaben im Außenbereich sind nach § 35 BauGB nur ausnahmsweise zulässig. Privilegiert sind nach § 35 Abs. 1 Nr. 8 BauGB
Anlagen zur Nutzung solarer Strahlungsenergie in, an und auf Dach- und Außenwandflächen von zulässigerweise genutzten Gebäuden.
Sonstige Vorhaben dürfen öffentliche Belange nicht beeinträchtigen. Freiflächenanlagen benötigen regelmäßig einen Bebauungsplan.`,
  'innenbereich.md': `# Vorhaben im Innenbereich

Innerhalb der im Zusammenhang bebauten Ortsteile ist ein Vorhaben nach § 34 BauGB zulässig, wenn es sich nach Art und Maß der baulichen
Nutzung in die Eigenart der näheren Umgebung einfügt und die Erschließung gesichert ist. Das Ortsbild darf nicht beeinträchtigt werden.`,
  'eigentum.md': `# Eigentumsgarantie

Das Eigentum wird durch Art. 14 GG gewährleistet. Inhalt und Schranken werden durch die Gesetze bestimmt. Eine Enteignung ist nur
zum Wohle der Allgemeinheit zulässig und darf nur durch Gesetz oder auf Grund eines Gesetzes erfolgen, das Art und Ausmaß der
Entschädigung regelt. Baurechtliche Beschränkungen sind in der Regel Inhalts- und Schrankenbestimmungen.`,
  'widerspruch.txt': `Widerspruchsverfahren

Gegen einen Verwaltungsakt kann innerhalb eines Monats nach Bekanntgabe Widerspruch erhoben werden. Die Widerspruchsbehörde prüft
Rechtmäßigkeit und Zweckmäßigkeit. Hilft die Behörde dem Widerspruch nicht ab, ergeht ein Widerspruchsbescheid. Danach ist die
Anfechtungsklage vor dem Verwaltungsgericht statthaft. Kontakt für Rückfragen: poststelle@bauamt.example.de.`,
};

export function writeFolder(dir: string): string {
  mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(FOLDER_DOCS)) writeFileSync(join(dir, name), content);
  return dir;
}

/** Instruction/response records as JSONL: chat messages and an alpaca triple. */
export const PAIRS_JSONL = [
  {
    id: 'qa-pv',
    domain: 'verwaltungsrecht',
    document_type: 'qa',
    messages: [
      { role: 'user', content: 'Brauche ich für eine Photovoltaikanlage auf dem Dach eine Baugenehmigung?' },
      { role: 'assistant', content: 'In der Regel nicht: Dachanlagen sind meist verfahrensfrei, außer bei Denkmalschutz.' },
    ],
  },
  {
    id: 'qa-35',
    domain: 'verwaltungsrecht',
    document_type: 'qa',
    instruction: 'Erkläre kurz § 35 BauGB.',
    input: 'Außenbereich',
    output: 'Im Außenbereich sind nur privilegierte Vorhaben allgemein zulässig; sonstige nur ohne Beeinträchtigung öffentlicher Belange.',
  },
]
  .map((r) => JSON.stringify(r))
  .join('\n');
