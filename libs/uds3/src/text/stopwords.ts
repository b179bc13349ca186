/** Small German and English stop-word lists: keywords and language detection ignore/use them. */
export const GERMAN_STOPWORDS = new Set(
  ('aber als also am an auch auf aus bei bin bis bist da damit dann das dass dem den denen der des desto die dies diese dieser ' +
    'dieses doch dort du durch ein eine einem einen einer eines er es etwa euch für gegen hat hatte haben hier ich ihr ihre im in ' +
    'ist ja jede jedem jeden jeder jedes kann kein keine können man mehr mit muss nach nicht noch nur ob oder ohne sehr sein sich ' +
    'sie sind so soll sollen über um und uns unter vom von vor war waren was weil wenn wer werden wie wir wird wurde wurden zu zum zur zwischen')
    .split(' '),
);
export const ENGLISH_STOPWORDS = new Set(
  ('a about after all also an and any are as at be been but by can could did do does for from had has have he her his how if in ' +
    'into is it its may more must no not of on or our she should so such than that the their them then there these they this those ' +
    'to under was we were what when where which while who will with would you your')
    .split(' '),
);
export function isStopword(word: string): boolean {
  return GERMAN_STOPWORDS.has(word) || ENGLISH_STOPWORDS.has(word);
}
